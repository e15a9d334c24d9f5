"""JSON nested deeper than the service accepts is a clear refusal, never a 500.

Found by review: the json module raises RecursionError near 1,000 levels,
which came out as a 500 with a traceback, without a token, over POST, GET
and WebSocket alike.
"""

from __future__ import annotations

import json
import logging

import pytest

from gql_service.api.json_codec import MAX_DEPTH, loads, within_depth
from tests.ws_support import ClosedError

TOO_DEEP = "[" * 1100 + "]" * 1100


def nested(levels: int) -> str:
    return '{"a": ' * (levels - 1) + "{}" + "}" * (levels - 1)


def test_the_depth_limit_is_exact():
    assert within_depth(json.loads(nested(MAX_DEPTH)), MAX_DEPTH)
    assert not within_depth(json.loads(nested(MAX_DEPTH + 1)), MAX_DEPTH)
    with pytest.raises(ValueError):
        loads(TOO_DEEP)


@pytest.mark.parametrize(
    "body",
    [
        TOO_DEEP,
        '{"query": "{ __typename }", "variables": {"v": ' + TOO_DEEP + "}}",
        '{"query": "{ __typename }", "variables": ' + nested(MAX_DEPTH) + "}",
    ],
)
async def test_a_deep_body_is_a_400_without_a_token(client, body, caplog):
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_deep_get_variables_are_a_400(client):
    response = await client.get(
        "/graphql", params={"query": "{ __typename }", "variables": TOO_DEEP}
    )

    assert response.status_code == 400
    assert "variables" in response.json()["errors"][0]["message"]


async def test_get_variables_that_are_not_an_object_are_refused_as_such(client):
    response = await client.get(
        "/graphql", params={"query": "{ __typename }", "variables": "[1]"}
    )

    assert response.status_code == 400
    assert "Batched" not in response.json()["errors"][0]["message"]


async def test_a_deep_websocket_message_closes_with_4400(open_socket, caplog):
    socket = await open_socket()
    await socket.connection.send(
        '{"type": "connection_init", "payload": ' + TOO_DEEP + "}"
    )

    with pytest.raises(ClosedError) as closed:
        await socket.receive()

    assert closed.value.code == 4400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "connection_init", "payload": {"x": ' + "1" * 5000 + "}}",
        "[]",
        "5",
        '"connection_init"',
    ],
)
async def test_other_unacceptable_websocket_messages_close_with_4400(
    open_socket, caplog, text
):
    """Review: a 5,000-digit number or a message that is not an object made
    strawberry fail with a traceback and drop the socket without a code."""
    socket = await open_socket()
    await socket.connection.send(text)

    with pytest.raises(ClosedError) as closed:
        await socket.receive()

    assert closed.value.code == 4400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
