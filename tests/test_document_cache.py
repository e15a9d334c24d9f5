"""Repeated documents skip parsing and validation, never the per-request checks."""

from __future__ import annotations

import pytest
import strawberry.schema.schema as strawberry_schema

from gql_service.api import errors as errors_module
from gql_service.api.document_cache import DocumentCache
from tests.conftest import codes, data, token_for

PROJECTS = "query Few($n: Int) { projects(first: $n) { nodes { name } } }"


@pytest.fixture
def counted(monkeypatch):
    """How often the validation rules and the parser really run."""
    calls = {"validate": 0, "parse": 0}
    validate, parse = errors_module.validate, strawberry_schema.parse

    def counting_validate(*args, **kwargs):
        calls["validate"] += 1
        return validate(*args, **kwargs)

    def counting_parse(*args, **kwargs):
        calls["parse"] += 1
        return parse(*args, **kwargs)

    monkeypatch.setattr(errors_module, "validate", counting_validate)
    monkeypatch.setattr(strawberry_schema, "parse", counting_parse)
    return calls


async def test_a_repeated_document_is_parsed_and_validated_once(gql, counted):
    for _ in range(3):
        data(await gql(PROJECTS, {"n": 5}))

    assert counted == {"validate": 1, "parse": 1}


async def test_limits_still_read_each_request_s_variables(gql, counted):
    data(await gql(PROJECTS, {"n": 5}))
    refused = await gql(PROJECTS, {"n": 1000})

    assert codes(refused) == ["BAD_USER_INPUT"]
    assert counted["parse"] == 1


async def test_an_invalid_document_is_refused_every_time(gql, counted):
    query = "{ projects { nodes { nope } } }"
    for _ in range(2):
        assert codes(await gql(query)) == ["GRAPHQL_VALIDATION_FAILED"]

    assert counted["validate"] == 2


async def test_refused_text_in_a_literal_is_refused_every_time(gql):
    query = '{ collections(filter: {environment: "a\\u0000b"}) { totalCount } }'
    for _ in range(2):
        assert codes(await gql(query)) == ["BAD_USER_INPUT"]


async def test_refused_text_in_variables_is_checked_per_request(gql):
    query = (
        "query($e: String) { collections(filter: {environment: $e}) { totalCount } }"
    )
    data(await gql(query, {"e": "production"}))

    assert codes(await gql(query, {"e": "a\x00b"})) == ["BAD_USER_INPUT"]


async def test_several_operations_still_need_a_name(gql):
    query = "query A { projects { totalCount } } query B { projects { totalCount } }"
    response = await gql.http.post(
        "/graphql",
        json={"query": query, "operationName": "A"},
        headers={"Authorization": "Bearer " + token_for("owner@example.com")},
    )
    assert "errors" not in response.json()

    assert codes(await gql(query)) == ["BAD_USER_INPUT"]


async def test_a_parse_failure_is_not_kept(gql, counted):
    for _ in range(2):
        assert codes(await gql("{ projects {")) == ["GRAPHQL_PARSE_FAILED"]

    assert counted["parse"] == 2


def test_the_cache_keeps_the_most_recently_used_entries():
    cache = DocumentCache(entries=3)
    documents = {}
    for text in ["a", "b", "c"]:
        documents[text] = cache.put(text, object()).document  # type: ignore[arg-type]
    assert cache.get("a") is not None  # now the most recent
    cache.put("d", object())  # type: ignore[arg-type]

    assert len(cache) == 3
    assert cache.get("b") is None
    assert cache.get("a").document is documents["a"]


def test_long_texts_are_answered_but_not_kept():
    cache = DocumentCache(longest=100, budget=1_000)
    entry = cache.put("x" * 101, object())  # type: ignore[arg-type]

    assert entry.document is not None
    assert len(cache) == 0
    assert cache.get("x" * 101) is None


def test_kept_text_stays_within_its_budget():
    cache = DocumentCache(entries=1_000, longest=400, budget=1_000)
    for n in range(50):
        cache.put(f"{n:03d}" + "y" * 297, object())  # type: ignore[arg-type]

    assert cache.kept_text <= 1_000
    assert len(cache) == 3
    assert cache.get("049" + "y" * 297) is not None


async def test_a_comment_padded_document_is_not_kept(gql, counted):
    query = "{ projects { totalCount } }\n#" + "c" * 100_000
    for _ in range(2):
        data(await gql(query))

    assert counted["parse"] == 2
