"""Answers are encoded by orjson, and by json where orjson refuses a value."""

from __future__ import annotations

import json

from gql_service.api.json_codec import dumps
from tests.conftest import data, token_for
from tests.factories import create_collection

BIG = 2**70


def test_plain_answers_and_64_bit_overflow_both_encode():
    answer = {"data": {"n": 1, "text": "zürich", "big": BIG, "list": [1.5, None]}}

    assert json.loads(dumps(answer)) == answer
    assert json.loads(dumps({"n": 1})) == {"n": 1}


async def test_metadata_beyond_64_bits_comes_back_whole(gql):
    collection = await create_collection(gql)
    added = await gql(
        """mutation($input: AddResourceInput!) {
          addResourceToCollection(input: $input) { resource { metadata } } }""",
        {
            "input": {
                "collectionId": collection["id"],
                "resourceType": "INSTANCE",
                "resourceId": "big-1",
                "metadata": {"bytes": BIG, "name": "zürich"},
            }
        },
    )

    metadata = data(added)["addResourceToCollection"]["resource"]["metadata"]
    assert metadata == {"bytes": BIG, "name": "zürich"}


def test_text_orjson_refuses_still_encodes():
    answer = {"message": "bad \ud800 text"}

    assert json.loads(dumps(answer)) == answer


async def test_an_operation_name_with_a_lone_surrogate_is_a_clear_400(client):
    body = '{"query": "query A { __typename }", "operationName": "\\ud800"}'
    response = await client.post(
        "/graphql",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + token_for("owner@example.com"),
        },
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "operationName" in error["message"]
