"""Repeated documents skip parsing and validation, never the per-request checks."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import parse

from gql_service.api import errors as errors_module
from gql_service.api.document_cache import DocumentCache, token_count
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


def doc(text: str):
    return parse(text, max_tokens=5_000)


def test_the_cache_keeps_the_most_recently_used_entries():
    cache = DocumentCache(entries=3)
    documents = {text: doc(text) for text in ["{ a }", "{ b }", "{ c }"]}
    for text, document in documents.items():
        cache.put(text, document)
    assert cache.get("{ a }") is not None  # now the most recent
    cache.put("{ d }", doc("{ d }"))

    assert len(cache) == 3
    assert cache.get("{ b }") is None
    assert cache.get("{ a }").document is documents["{ a }"]


def test_long_texts_are_answered_but_not_kept():
    cache = DocumentCache(longest=100, budget=1_000)
    text = "{ a }" + " " * 100
    entry = cache.put(text, doc(text))

    assert entry.document is not None
    assert len(cache) == 0
    assert cache.get(text) is None


def test_kept_text_stays_within_its_budget():
    cache = DocumentCache(entries=1_000, longest=400, budget=1_000)
    for n in range(50):
        text = f"{{ f{n:03d} }}" + " " * 290
        cache.put(text, doc(text))

    assert cache.kept_text <= 1_000
    assert len(cache) == 3


def dense(n: int) -> str:
    """About 2,000 one-character tokens in 2 KB: the most tree per byte."""
    return f"{{x{n}," + "a{b}" * 499 + "}"


def test_kept_tokens_stay_within_their_budget_and_memory_with_them():
    cache = DocumentCache(token_budget=10_000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(25):
        cache.put(dense(n), doc(dense(n)))
    gc.collect()  # tokens link both ways: dropped documents go with the GC
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert cache.kept_tokens <= 10_000
    assert len(cache) == 10_000 // token_count(doc(dense(0)))
    # About 390 bytes a token, whatever the text's length.
    assert held < 10_000 * 600


def test_put_twice_keeps_one_entry_and_true_totals():
    cache = DocumentCache()
    for _ in range(3):
        cache.put("{ a b }", doc("{ a b }"))

    assert len(cache) == 1
    assert cache.kept_text == len("{ a b }")
    assert cache.kept_tokens == token_count(doc("{ a b }"))


async def test_a_comment_padded_document_is_not_kept(gql, counted):
    query = "{ projects { totalCount } }\n#" + "c" * 100_000
    for _ in range(2):
        data(await gql(query))

    assert counted["parse"] == 2
