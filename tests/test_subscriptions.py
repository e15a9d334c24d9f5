"""The live feed over real WebSockets against a real server.

ARCHITECTURE.md, "Events: the audit trail and the live feed": a subscriber
receives, in order, every event it may read after its ``after`` cursor,
with no gap and no duplicate between replay and live, also across
processes and when writers commit out of cursor order; a slow subscriber
ends with SUBSCRIPTION_OVERFLOW and the cursor to resume from.

To show that an event did NOT arrive without waiting for a timeout, the
tests make the unwanted change first and a wanted one after it: the feed
is in cursor order, so the wanted event arriving first proves the unwanted
one was left out.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from gql_service.api.ids import decode_event_cursor, encode_event_cursor
from gql_service.auth.tokens import issue_token
from gql_service.domain.models import utc_now
from gql_service.errors import ServiceUnavailableError
from gql_service.events.model import EventState, EventType, NewEvent
from tests.conftest import SECRET, token_for
from tests.ws_fixtures import OpenSocket
from tests.ws_support import (
    LEGACY,
    OWNER,
    TRANSPORT,
    Api,
    Server,
    Socket,
    api,
    live,
    wait_until,
)

VIEWER = "viewer@example.com"
STRANGER = "stranger@example.com"


async def subscribed(
    open_socket: OpenSocket,
    server: Server,
    *,
    subject: str = OWNER,
    admin: bool = False,
    protocol: str = TRANSPORT,
    **variables: Any,
) -> Socket:
    """An authenticated socket with subscription "1" live in the hub."""
    before = server.subscribers
    await server.wait_caught_up()
    socket = await open_socket(protocol, to=server)
    await socket.authenticate(subject, admin=admin)
    await socket.subscribe("1", **variables)
    await server.wait_for_subscribers(before + 1)
    return socket


def cursor_number(cursor: str) -> int:
    # Cursors are opaque to clients; the tests know they are numbered.
    return decode_event_cursor(cursor)


# 1-2. Both protocols deliver a change made over HTTP -----------------------


async def test_transport_ws_acknowledges_a_valid_token(open_socket):
    socket = await open_socket(TRANSPORT)

    answer = await socket.init({"Authorization": "Bearer " + token_for(OWNER)})

    assert answer["type"] == "connection_ack"


async def test_transport_ws_delivers_a_change_made_over_http(open_socket, server, http):
    collection = await http.create_collection("web-app")
    socket = await subscribed(open_socket, server)

    await http.add_resource(collection, "inst-1")
    event = await socket.event()

    newest = (await http.audit_log())[-1]
    assert event["type"] == "RESOURCE_ADDED"
    assert event["cursor"] == newest["cursor"]
    assert event["collectionName"] == "web-app"
    assert event["collectionId"] == collection
    assert event["resource"] == {"resourceId": "inst-1"}


async def test_legacy_graphql_ws_delivers_a_change_made_over_http(
    open_socket, server, http
):
    collection = await http.create_collection("web-app")
    socket = await subscribed(open_socket, server, protocol=LEGACY)

    await http.add_resource(collection, "inst-1")
    event = await socket.event()

    newest = (await http.audit_log())[-1]
    assert event["type"] == "RESOURCE_ADDED"
    assert event["cursor"] == newest["cursor"]
    assert event["collectionName"] == "web-app"


async def test_legacy_graphql_ws_acknowledges_then_sends_keep_alives(database):
    async with live(database, keepalive_seconds=0.1) as server:
        socket = await Socket.open(server, LEGACY)
        token = token_for(OWNER)

        answer = await socket.init({"Authorization": "Bearer " + token})
        kinds = [(await socket.receive(keep_alive=True))["type"] for _ in range(3)]

        socket.abort()
    assert answer["type"] == "connection_ack"
    assert kinds == ["ka", "ka", "ka"]


# 3. Authentication ----------------------------------------------------------

BAD_CREDENTIALS = {
    "no-token": {},
    "bad-signature": {
        "Authorization": "Bearer " + issue_token("another-secret-" + "y" * 40, OWNER)
    },
    "expired": {
        "Authorization": "Bearer " + issue_token(SECRET, OWNER, ttl_seconds=-3600)
    },
    "group-subject": {"Authorization": "Bearer " + token_for("group:admins")},
    "not-bearer": {"Authorization": token_for(OWNER)},
}


@pytest.mark.parametrize("payload", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS)
async def test_transport_ws_refuses_bad_credentials_with_4403(open_socket, payload):
    socket = await open_socket(TRANSPORT)

    await socket.send({"type": "connection_init", "payload": payload})

    assert await socket.close_code() == 4403


@pytest.mark.parametrize("payload", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS)
async def test_legacy_ws_refuses_bad_credentials_with_connection_error(
    open_socket, payload
):
    socket = await open_socket(LEGACY)

    answer = await socket.init(payload)

    assert answer["type"] == "connection_error"
    assert answer["payload"]["code"] == "UNAUTHENTICATED"
    assert await socket.close_code() is not None


async def test_transport_ws_subscribe_before_init_closes_with_4401(open_socket):
    socket = await open_socket(TRANSPORT)

    await socket.subscribe("1")

    assert await socket.close_code() == 4401


async def test_legacy_ws_start_before_init_closes_with_4401(open_socket):
    socket = await open_socket(LEGACY)

    await socket.subscribe("1")

    assert await socket.close_code() == 4401


async def test_transport_ws_duplicate_operation_id_closes_with_4409(
    open_socket, server
):
    socket = await subscribed(open_socket, server)

    await socket.subscribe("1")

    assert await socket.close_code() == 4409


async def test_server_keeps_serving_after_refused_connections(
    open_socket, server, http
):
    collection = await http.create_collection("web-app")
    refused = await open_socket(TRANSPORT)
    await refused.send({"type": "connection_init", "payload": {}})
    early = await open_socket(TRANSPORT)
    await early.subscribe("1")
    duplicate = await subscribed(open_socket, server)
    await duplicate.subscribe("1")
    codes = [await s.close_code() for s in (refused, early, duplicate)]
    await server.wait_for_subscribers(0)
    socket = await subscribed(open_socket, server)

    await http.add_resource(collection, "inst-1")
    event = await socket.event()

    assert codes == [4403, 4401, 4409]
    assert event["type"] == "RESOURCE_ADDED"


# 4. Filters and visibility ---------------------------------------------------


async def test_project_filter_leaves_out_other_projects(open_socket, server, http):
    alpha = await http.create_collection("web-app", project="alpha")
    beta = await http.create_collection("web-app", project="beta")
    socket = await subscribed(open_socket, server, project="beta")

    await http.add_resource(alpha, "in-alpha")
    await http.add_resource(beta, "in-beta")
    event = await socket.event()

    assert event["project"] == "beta"
    assert event["resource"] == {"resourceId": "in-beta"}


async def test_environment_filter_leaves_out_other_environments(
    open_socket, server, http
):
    dev = await http.create_collection("web-app", environment="development")
    test = await http.create_collection("web-app", environment="testing")
    socket = await subscribed(open_socket, server, environment="testing")

    await http.add_resource(dev, "in-dev")
    await http.add_resource(test, "in-test")
    event = await socket.event()

    assert event["environment"] == "testing"
    assert event["resource"] == {"resourceId": "in-test"}


async def test_collection_filter_leaves_out_other_collections(
    open_socket, server, http
):
    other = await http.create_collection("other")
    wanted = await http.create_collection("wanted")
    socket = await subscribed(open_socket, server, collectionId=wanted)

    await http.add_resource(other, "in-other")
    await http.describe(other, "changed")
    await http.add_resource(wanted, "in-wanted")
    event = await socket.event()

    assert event["collectionId"] == wanted
    assert event["resource"] == {"resourceId": "in-wanted"}


async def test_types_filter_delivers_only_those_types(open_socket, server, http):
    collection = await http.create_collection("web-app")
    types = ["COLLECTION_UPDATED", "RESOURCE_REMOVED"]
    socket = await subscribed(open_socket, server, types=types)

    await http.add_resource(collection, "inst-1")
    await http.describe(collection, "changed")
    await http.add_resource(collection, "inst-2")
    await http.remove_resource(collection, "inst-1")
    events = await socket.events(2)

    assert [e["type"] for e in events] == types


async def test_stranger_receives_no_event_of_others(open_socket, server, http):
    collection = await http.create_collection("web-app")
    socket = await subscribed(open_socket, server, subject=STRANGER)

    await http.add_resource(collection, "inst-1")
    await http.describe(collection, "changed")
    await http.create_collection("own", project="elsewhere", as_=STRANGER)
    event = await socket.event()

    assert event["project"] == "elsewhere"
    assert event["type"] == "PROJECT_CREATED"


async def test_viewer_of_one_collection_receives_only_its_events(
    open_socket, server, http
):
    hidden = await http.create_collection("hidden")
    shared = await http.create_collection("shared", viewers=[VIEWER])
    socket = await subscribed(open_socket, server, subject=VIEWER)

    await http.add_resource(hidden, "in-hidden")
    await http.describe(hidden, "changed")
    await http.add_resource(shared, "in-shared")
    event = await socket.event()

    assert event["collectionName"] == "shared"
    assert event["resource"] == {"resourceId": "in-shared"}


async def test_revoked_viewer_stops_receiving_the_collection_events(
    open_socket, server, http
):
    revoked = await http.create_collection("revoked", viewers=[VIEWER])
    kept = await http.create_collection("kept", viewers=[VIEWER])
    socket = await subscribed(
        open_socket, server, subject=VIEWER, types=["RESOURCE_ADDED"]
    )
    await http.add_resource(revoked, "before-revoke")
    first = await socket.event()

    await http.revoke(revoked, VIEWER)
    await http.add_resource(revoked, "after-revoke")
    await http.add_resource(kept, "in-kept")
    second = await socket.event()

    assert first["resource"] == {"resourceId": "before-revoke"}
    assert second["resource"] == {"resourceId": "in-kept"}


# 5. Replay with `after` --------------------------------------------------------


async def test_replay_after_a_cursor_continues_live_without_gap_or_duplicate(
    open_socket, server, http
):
    collection = await http.create_collection("web-app")
    for n in range(1, 4):
        await http.add_resource(collection, f"before-{n}")
    after = (await http.audit_log())[-3]["cursor"]
    socket = await subscribed(open_socket, server, after=after)

    await http.add_resource(collection, "after-1")
    await http.add_resource(collection, "after-2")
    received = await socket.event_entries(4)

    log = await http.audit_log()
    assert [e["resourceId"] for e in received] == [
        "before-2",
        "before-3",
        "after-1",
        "after-2",
    ]
    assert received == log[-4:]


async def test_replay_has_no_gap_or_duplicate_while_writers_keep_writing(
    open_socket, server, http
):
    collection = await http.create_collection("web-app")
    await http.add_resource(collection, "start")
    after = (await http.audit_log())[-1]["cursor"]
    writes = 30

    async def writer() -> None:
        for n in range(writes):
            await http.add_resource(collection, f"inst-{n}")

    writing = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    socket = await subscribed(open_socket, server, after=after)
    await asyncio.wait_for(writing, 10)
    received = await socket.event_entries(writes)

    log = await http.audit_log()
    assert received == log[-writes:]
    assert [e["resourceId"] for e in received] == [f"inst-{n}" for n in range(writes)]


async def collection_list_cursor(http: Api) -> str:
    return await http.collection_list_cursor()


async def beyond_newest(http: Api) -> str:
    newest = (await http.audit_log())[-1]["cursor"]
    return encode_event_cursor(cursor_number(newest) + 100)


async def malformed(_http: Api) -> str:
    return "not a cursor!"


@pytest.mark.parametrize(
    "make_cursor",
    [malformed, collection_list_cursor, beyond_newest],
    ids=["malformed", "collection-list-cursor", "beyond-newest"],
)
async def test_bad_after_cursor_is_bad_user_input(open_socket, http, make_cursor):
    await http.create_collection("web-app")
    after = await make_cursor(http)
    socket = await open_socket(TRANSPORT)
    await socket.authenticate()

    await socket.subscribe("1", after=after)
    errors = await socket.errors("1")

    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


# 6. Cross-process delivery ----------------------------------------------------


async def test_change_through_one_server_reaches_a_subscriber_of_another(
    database, open_socket
):
    async with (
        live(database) as server_a,
        live(database) as server_b,
        api(server_a) as http_a,
    ):
        collection = await http_a.create_collection("web-app")
        socket = await subscribed(open_socket, server_b)
        arrival = asyncio.create_task(socket.event())

        await http_a.add_resource(collection, "via-a")
        committed = time.monotonic()
        event = await asyncio.wait_for(arrival, 3)
        delay = time.monotonic() - committed

        socket.abort()
    assert event["resource"] == {"resourceId": "via-a"}
    assert delay < 1.0, f"the event took {delay:.2f} s to reach server B"


# 7. Writers committing out of cursor order ---------------------------------------


def new_event(name: str) -> NewEvent:
    return NewEvent(
        type=EventType.COLLECTION_UPDATED,
        actor="writer@example.com",
        project_id=str(ObjectId()),
        project="shop",
        operation={},
        environment="development",
        collection_name=name,
    )


async def test_a_reserved_cursor_written_after_a_later_one_is_delivered_in_order(
    open_socket, server
):
    repository = server.runtime.store.events
    lease = utc_now() + timedelta(seconds=60)
    # An administrator reads the events of every project.
    socket = await subscribed(open_socket, server, admin=True)
    earlier = await repository.reserve(1)
    later = await repository.reserve(1)

    await repository.insert_pending(later, [new_event("later")], lease)
    await repository.set_state([later], EventState.PENDING, EventState.COMMITTED)
    await asyncio.sleep(0.3)
    await repository.insert_pending(earlier, [new_event("earlier")], lease)
    await repository.set_state([earlier], EventState.PENDING, EventState.COMMITTED)
    events = await socket.events(2)

    assert [e["collectionName"] for e in events] == ["earlier", "later"]
    assert [e["cursor"] for e in events] == [
        encode_event_cursor(earlier),
        encode_event_cursor(later),
    ]


async def test_pending_events_committed_out_of_order_are_delivered_in_order(
    open_socket, server
):
    repository = server.runtime.store.events
    lease = utc_now() + timedelta(seconds=60)
    socket = await subscribed(open_socket, server, admin=True)
    earlier = await repository.reserve(1)
    later = await repository.reserve(1)
    await repository.insert_pending(earlier, [new_event("earlier")], lease)
    await repository.insert_pending(later, [new_event("later")], lease)

    await repository.set_state([later], EventState.PENDING, EventState.COMMITTED)
    await asyncio.sleep(0.3)
    await repository.set_state([earlier], EventState.PENDING, EventState.COMMITTED)
    events = await socket.events(2)

    assert [e["cursor"] for e in events] == [
        encode_event_cursor(earlier),
        encode_event_cursor(later),
    ]


# 8. Slow subscribers ------------------------------------------------------------


async def read_until_error(socket: Socket, limit: int = 5000) -> tuple[list, dict]:
    """Events received before the first error, and that error."""
    received: list[dict[str, Any]] = []
    for _ in range(limit):
        message = await socket.receive()
        payload = message.get("payload") or {}
        if message["type"] == "error" or payload.get("errors"):
            errors = payload if isinstance(payload, list) else payload["errors"]
            return received, errors[0]
        assert message["type"] in {"next", "data"}, message
        received.append(payload["data"]["collectionEvents"])
    raise AssertionError(f"no error after {limit} messages")


async def flood(http: Api, collection: str, rounds: int = 3, size: int = 200) -> None:
    for round_ in range(rounds):
        await http.add_resources(
            collection, [f"bulk-{round_}-{n}" for n in range(size)]
        )


async def test_slow_subscriber_ends_with_overflow_and_its_last_cursor(database):
    async with live(database, subscription_queue_size=5) as server, api(server) as http:
        collection = await http.create_collection("web-app")
        await server.wait_caught_up()
        socket = await Socket.open(server, TRANSPORT, max_queue=1)
        await socket.authenticate()
        await socket.subscribe("1")
        await server.wait_for_subscribers(1)

        await flood(http, collection)
        received, error = await read_until_error(socket)

        socket.abort()
    numbers = [cursor_number(e["cursor"]) for e in received]
    assert error["extensions"]["code"] == "SUBSCRIPTION_OVERFLOW"
    assert received, "the subscriber received nothing before the overflow"
    assert error["extensions"]["lastCursor"] == received[-1]["cursor"]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


async def test_an_event_that_cannot_be_checked_ends_the_feed_resumably(
    database, caplog
):
    """Review: when the visibility check of an event failed (the database
    away), the tailer had already moved past it and live subscribers never
    got it. They now end with SUBSCRIPTION_OVERFLOW at their last cursor and
    replay the event when they resume."""
    async with live(database) as server, api(server) as http:
        collection = await http.create_collection("web-app")
        await server.wait_caught_up()
        socket = await Socket.open(server, TRANSPORT)
        await socket.authenticate()
        await socket.subscribe("1", collectionId=collection)
        await server.wait_for_subscribers(1)
        await http.add_resource(collection, "seen")
        seen = await socket.events(1)
        hub = server.runtime.services.hub
        check = hub.grants_for

        async def unreachable(event):
            hub.grants_for = check  # fails once, as a blip would
            raise ServiceUnavailableError("The database is unavailable.")

        hub.grants_for = unreachable
        await http.add_resource(collection, "missed")
        _, error = await read_until_error(socket)
        socket.abort()
        resumed = await Socket.open(server, TRANSPORT)
        await resumed.authenticate()
        last = error["extensions"]["lastCursor"]
        await resumed.subscribe("1", collectionId=collection, after=last)
        replayed = await resumed.events(1)
        resumed.abort()

    assert error["extensions"]["code"] == "SUBSCRIPTION_OVERFLOW"
    assert last == seen[0]["cursor"]
    assert replayed[0]["resource"]["resourceId"] == "missed"


async def test_overflowed_subscription_is_released(database):
    async with live(database, subscription_queue_size=5) as server, api(server) as http:
        collection = await http.create_collection("web-app")
        await server.wait_caught_up()
        socket = await Socket.open(server, TRANSPORT, max_queue=1)
        await socket.authenticate()
        await socket.subscribe("1")
        await server.wait_for_subscribers(1)

        await flood(http, collection)
        await read_until_error(socket)
        await wait_until(lambda: server.subscribers == 0)

        socket.abort()
    assert server.subscribers == 0


async def test_resuming_from_the_overflow_cursor_loses_nothing(database):
    async with live(database, subscription_queue_size=5) as server, api(server) as http:
        collection = await http.create_collection("web-app")
        await server.wait_caught_up()
        slow = await Socket.open(server, TRANSPORT, max_queue=1)
        await slow.authenticate()
        await slow.subscribe("1", collectionId=collection)
        await server.wait_for_subscribers(1)
        await flood(http, collection, rounds=1, size=300)
        received, error = await read_until_error(slow)
        slow.abort()
        resumed = await Socket.open(server, TRANSPORT)
        await resumed.authenticate()

        await resumed.subscribe(
            "1", collectionId=collection, after=error["extensions"]["lastCursor"]
        )
        rest = await resumed.events(300 - len(received))

        resumed.abort()
    names = [e["resource"]["resourceId"] for e in received + rest]
    assert names == [f"bulk-0-{n}" for n in range(300)]


# 9. Subscriptions per connection ----------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_subscription_beyond_the_limit_gets_a_coded_error(database, protocol):
    async with live(database, max_subscriptions_per_connection=2) as server:
        socket = await Socket.open(server, protocol)
        await socket.authenticate()
        await socket.subscribe("1")
        await socket.subscribe("2")

        await socket.subscribe("3")
        errors = await socket.errors("3")

        socket.abort()
    assert len(errors) == 1
    assert errors[0].get("extensions", {}).get("code"), errors


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_subscriptions_within_the_limit_keep_working(database, protocol):
    async with (
        live(database, max_subscriptions_per_connection=2) as server,
        api(server) as http,
    ):
        collection = await http.create_collection("web-app")
        await server.wait_caught_up()
        socket = await Socket.open(server, protocol)
        await socket.authenticate()
        await socket.subscribe("1")
        await socket.subscribe("2")
        await server.wait_for_subscribers(2)
        await socket.subscribe("3")
        await socket.errors("3")

        await http.add_resource(collection, "inst-1")
        messages = [await socket.receive() for _ in range(2)]

        socket.abort()
    assert sorted(m["id"] for m in messages) == ["1", "2"]
    assert {m["type"] for m in messages} == {
        "next" if protocol == TRANSPORT else "data"
    }
    events = [m["payload"]["data"]["collectionEvents"] for m in messages]
    assert [e["resource"] for e in events] == [{"resourceId": "inst-1"}] * 2


# 10. Abrupt disconnects ------------------------------------------------------------


async def open_many(open_socket: OpenSocket, server: Server) -> list[Socket]:
    sockets = []
    for protocol in (TRANSPORT, TRANSPORT, LEGACY):
        socket = await open_socket(protocol, ping_interval=None)
        await socket.authenticate()
        for op_id in ("1", "2"):
            await socket.subscribe(op_id)
        sockets.append(socket)
    await server.wait_for_subscribers(6)
    return sockets


async def test_abrupt_disconnects_release_every_subscription(open_socket, server):
    sockets = await open_many(open_socket, server)

    for socket in sockets:
        socket.abort()

    await wait_until(lambda: server.subscribers == 0, within=5)
    assert server.subscribers == 0


def leftover_tasks(baseline: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    # The hub's tailer waits on a fresh short-lived Event.wait task each poll.
    return [
        task
        for task in asyncio.all_tasks()
        if task not in baseline
        and not task.done()
        and task.get_coro().__qualname__ != "Event.wait"
    ]


async def test_abrupt_disconnects_leave_no_task_behind(open_socket, server):
    baseline = asyncio.all_tasks()
    sockets = await open_many(open_socket, server)
    assert leftover_tasks(baseline), "the connections started no task to watch"

    for socket in sockets:
        socket.abort()

    await wait_until(lambda: not leftover_tasks(baseline), within=5)
    assert leftover_tasks(baseline) == []
