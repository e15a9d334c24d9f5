"""An unknown operationName over WebSocket is the client's mistake, said so.

Found by review: over both protocols it came back INTERNAL_SERVER_ERROR with
a traceback in the log (over HTTP it is a 400).
"""

from __future__ import annotations

import logging

import pytest

from tests.ws_support import LEGACY, TRANSPORT, ClosedError

DOCUMENT = "query A { __typename }"


async def test_an_unknown_operation_name_closes_with_4400(open_socket, caplog):
    socket = await open_socket(TRANSPORT)
    await socket.authenticate()
    payload = {"query": DOCUMENT, "operationName": "B"}
    await socket.send({"id": "1", "type": "subscribe", "payload": payload})

    with pytest.raises(ClosedError) as closed:
        await socket.receive()

    assert closed.value.code == 4400
    assert closed.value.reason.startswith("Unknown operation named")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_lone_surrogate_in_the_name_is_bad_user_input(open_socket, protocol):
    socket = await open_socket(protocol)
    await socket.authenticate()
    kind = "subscribe" if protocol == TRANSPORT else "start"
    payload = {"query": DOCUMENT, "operationName": "\ud800"}
    await socket.send({"id": "1", "type": kind, "payload": payload})

    answer = await socket.receive()

    assert answer["type"] == "error"
    error = answer["payload"][0] if protocol == TRANSPORT else answer["payload"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_legacy_protocol_says_the_same(open_socket):
    socket = await open_socket(LEGACY)
    await socket.authenticate()
    payload = {"query": DOCUMENT, "operationName": "B"}
    await socket.send({"id": "1", "type": "start", "payload": payload})

    answer = await socket.receive()

    assert answer["type"] in {"error", "data"}
    errors = (
        answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
    )
    errors = errors if isinstance(errors, list) else [errors]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("name", ["x" * 97, "é" * 49, "y" * 5000])
async def test_a_long_unknown_name_still_closes_cleanly(open_socket, caplog, name):
    """Review: the close reason echoes the name, and a reason over 123 bytes
    cannot be sent: the socket dropped without a code."""
    socket = await open_socket(TRANSPORT)
    await socket.authenticate()
    payload = {"query": DOCUMENT, "operationName": name}
    await socket.send({"id": "1", "type": "subscribe", "payload": payload})

    with pytest.raises(ClosedError) as closed:
        await socket.receive()

    assert closed.value.code == 4400
    assert len(closed.value.reason.encode()) <= 123
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_long_syntax_error_still_closes_cleanly(open_socket, caplog):
    socket = await open_socket(TRANSPORT)
    await socket.authenticate()
    payload = {"query": "{ " + "a" * 300 + " $ }"}
    await socket.send({"id": "1", "type": "subscribe", "payload": payload})

    with pytest.raises(ClosedError) as closed:
        await socket.receive()

    assert closed.value.code == 4400
    assert closed.value.reason.startswith("Syntax Error")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
@pytest.mark.parametrize("name", [5, {"a": 1}, True])
async def test_a_name_that_is_not_text_is_bad_user_input(open_socket, protocol, name):
    socket = await open_socket(protocol)
    await socket.authenticate()
    kind = "subscribe" if protocol == TRANSPORT else "start"
    payload = {"query": DOCUMENT, "operationName": name}
    await socket.send({"id": "1", "type": kind, "payload": payload})

    answer = await socket.receive()

    assert answer["type"] == "error"
    error = answer["payload"][0] if protocol == TRANSPORT else answer["payload"]
    assert error["message"] == "operationName must be a string."


async def test_a_payload_that_is_not_an_object(open_socket, caplog):
    transport = await open_socket(TRANSPORT)
    await transport.authenticate()
    await transport.send({"id": "1", "type": "subscribe", "payload": "x"})
    with pytest.raises(ClosedError) as closed:
        await transport.receive()
    legacy = await open_socket(LEGACY)
    await legacy.authenticate()
    await legacy.send({"id": "1", "type": "start", "payload": "x"})

    assert closed.value.code == 4400
    assert (await legacy.receive())["type"] == "error"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_query_over_the_legacy_protocol_is_refused_plainly(open_socket, caplog):
    """Review: strawberry's legacy handler runs subscriptions only, and its
    refusal of a query came out as INTERNAL_SERVER_ERROR with a traceback."""
    socket = await open_socket(LEGACY)
    await socket.authenticate()
    await socket.send({"id": "1", "type": "start", "payload": {"query": DOCUMENT}})

    answer = await socket.receive()

    errors = answer["payload"]
    errors = errors if isinstance(errors, list) else errors.get("errors", [errors])
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Only subscriptions" in errors[0]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_second_connection_init_cannot_change_who_is_asking(open_socket):
    """Review: the legacy protocol re-ran authentication on a second
    connection_init and swapped the principal under running subscriptions."""
    socket = await open_socket(LEGACY)
    await socket.authenticate()

    await socket.send(
        {"type": "connection_init", "payload": {"Authorization": "Bearer x"}}
    )

    with pytest.raises(ClosedError) as closed:
        await socket.receive()
    assert closed.value.code == 4429
