"""Where a process's tailer starts: never past a change still in flight.

The tailer reads from just below the first cursor that is pending or not
written yet, and the sweeper looks for stale pending events only above the
tailer's position; a review found a pending event written between two of
the start-up reads, which left it below the position and never swept.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gql_service.events.hub import TAILER
from gql_service.events.model import EventState
from gql_service.storage.store import Store
from tests.factories import create_collection

LEASE = datetime(2026, 1, 1, tzinfo=UTC)


async def written(database, head: int, states: dict[int, str]) -> Store:
    """A log whose counter says ``head``, with the given cursors written."""
    store = Store(database)
    await database.collection("counters").insert_one({"_id": "events", "seq": head})
    docs = [
        {"_id": seq, "state": state, "lease_until": LEASE}
        for seq, state in sorted(states.items())
    ]
    if docs:
        await database.collection("events").insert_many(docs)
    return store


COMMITTED = EventState.COMMITTED.value
PENDING = EventState.PENDING.value


@pytest.mark.parametrize(
    ("head", "states", "expected"),
    [
        (0, {}, 1),
        (5, dict.fromkeys(range(1, 6), COMMITTED), 6),
        (5, {1: COMMITTED, 2: COMMITTED, 4: COMMITTED, 5: COMMITTED}, 3),
        (5, {**dict.fromkeys(range(1, 6), COMMITTED), 4: PENDING}, 4),
        (5, {1: COMMITTED, 3: COMMITTED, 4: PENDING}, 2),
        (9, {**dict.fromkeys(range(1, 9), COMMITTED), 2: "skipped"}, 9),
        (300, {n: COMMITTED for n in range(1, 301) if n != 217}, 217),
    ],
)
async def test_first_unresolved_cursor(database, head, states, expected):
    store = await written(database, head, states)

    assert await store.events.first_unresolved() == expected


@pytest.mark.parametrize("moment", ["count", "find"])
async def test_an_event_written_during_the_start_is_not_passed(
    database, gateway_options, moment
):
    """Cursor 6 is reserved before the start; its pending event lands while
    the start reads (before the gap search, or before the pending search)."""
    store = await written(database, 6, dict.fromkeys(range(1, 6), COMMITTED))
    raw_events = database.raw["events"]
    landed = []

    def land_once(collection: str, command: str) -> Any:
        if collection == "events" and command == moment and not landed:
            landed.append(True)
            # The gateway awaits what a fault hook returns: the write lands
            # just before this command runs.
            return raw_events.insert_one(
                {"_id": 6, "state": PENDING, "lease_until": LEASE}
            )
        return None

    gateway_options.fault = land_once
    first = await store.events.first_unresolved()
    gateway_options.fault = None

    assert landed
    assert first <= 6
    stale = await store.events.stale_pending(
        LEASE + timedelta(minutes=1), 10, after=first - 1
    )
    assert [doc["_id"] for doc in stale] == [6]


async def test_the_search_starts_at_the_stored_floor(database):
    # Cursor 3 was skipped long ago, below where a tailer already got (5).
    states = {n: COMMITTED for n in range(1, 1001) if n not in (3, 900)}
    store = await written(database, 1000, states)

    assert await store.events.first_unresolved(floor=5) == 900
    assert await store.events.first_unresolved(floor=950) == 1001
    assert await store.events.first_unresolved() == 3


async def test_a_tailer_stores_how_far_everything_is_resolved(gql, runtime):
    hub, events = runtime.services.hub, runtime.store.events
    await hub.start()
    try:
        await create_collection(gql)
        head = await events.head()
        for _ in range(100):
            if await events.position(TAILER) == head:
                break
            await asyncio.sleep(0.05)
    finally:
        await hub.stop()

    assert head > 0
    assert hub.position == head
    assert await events.position(TAILER) == head
