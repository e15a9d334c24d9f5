"""The event log: an append-only collection ordered by an integer cursor.

A writer reserves cursors from a counter, inserts its events as pending,
applies the change and marks them committed. Readers only ever see
committed events, and the tailer never reads past a pending one, so a
change and its event become visible together and in cursor order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from gql_service.domain.models import utc_now
from gql_service.events.model import Event, EventState, EventType, NewEvent
from gql_service.storage.documents import (
    changes_from_doc,
    changes_to_doc,
    object_id,
    utc,
)
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.paging import combine

COUNTER_ID = "events"


class CursorTakenError(Exception):
    """A reserved cursor was given up as skipped before its event was written."""


class EventRepository:
    def __init__(self, events: StoreCollection, counters: StoreCollection) -> None:
        self._events = events
        self._counters = counters

    async def reserve(self, count: int) -> int:
        """Reserve ``count`` consecutive cursors; return the first."""
        doc = await self._counters.find_one_and_update(
            {"_id": COUNTER_ID}, {"$inc": {"seq": count}}, upsert=True
        )
        assert doc is not None
        return int(doc["seq"]) - count + 1

    async def position(self, name: str) -> int | None:
        """How far a durable consumer of the log has got, if it has started."""
        doc = await self._counters.find_one({"_id": "position:" + name})
        return int(doc["seq"]) if doc else None

    async def advance_position(self, name: str, seq: int) -> None:
        await self._counters.update_one(
            {"_id": "position:" + name}, {"$max": {"seq": seq}}, upsert=True
        )

    async def head(self) -> int:
        doc = await self._counters.find_one({"_id": COUNTER_ID})
        return int(doc["seq"]) if doc else 0

    async def insert_pending(
        self, first: int, events: list[NewEvent], lease_until: datetime
    ) -> None:
        now = utc_now()
        docs = [
            event_to_doc(first + offset, event, now, lease_until)
            for offset, event in enumerate(events)
        ]
        try:
            await self._events.insert_many(docs)
        except (BulkWriteError, DuplicateKeyError) as exc:
            # Whatever got in stays as pending and the sweeper aborts it.
            raise CursorTakenError from exc

    async def set_state(
        self, seqs: list[int], from_state: EventState, to_state: EventState
    ) -> int:
        return await self._events.update_many(
            {"_id": {"$in": seqs}, "state": from_state.value},
            {"$set": {"state": to_state.value}},
        )

    async def save_progress(self, seq: int, fields: dict[str, Any]) -> None:
        await self._events.update_one(
            {"_id": seq},
            {"$set": {f"op.{key}": value for key, value in fields.items()}},
        )

    async def get_doc(self, seq: int) -> dict[str, Any] | None:
        return await self._events.find_one({"_id": seq})

    async def window(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Every event after ``after`` in cursor order, whatever its state."""
        return await self._events.find_many(
            {"_id": {"$gt": after}}, sort=[("_id", 1)], limit=limit
        )

    async def stale_pending(
        self, now: datetime, limit: int, after: int = 0
    ) -> list[dict[str, Any]]:
        return await self._events.find_many(
            {
                "_id": {"$gt": after},
                "state": EventState.PENDING.value,
                "lease_until": {"$lt": now},
            },
            sort=[("_id", 1)],
            limit=limit,
        )

    async def re_record(self, doc: dict[str, Any]) -> int:
        """Append a copy of an aborted event, committed, under a new cursor."""
        seq = await self.reserve(1)
        copy = {**doc, "_id": seq, "state": EventState.COMMITTED.value}
        copy.pop("op", None)
        await self._events.insert_one(copy)
        return seq

    async def first_unresolved(self, floor: int = 0) -> int:
        """The lowest cursor above ``floor`` whose event is pending or not
        written; head + 1 if none. ``floor`` is a cursor known resolved with
        everything under it (a tailer's stored position), so the search
        stays among the recent events of a long log.

        A tailer starting just below it never passes a change in flight. The
        reads go in this order so nothing slips between them: the head (a
        later event gets a higher cursor), then the gaps under it (an event
        written after that look counts as a gap), then the pending events
        (whatever was written by then is pending or resolved, and a resolved
        event never turns pending again).
        """
        head = await self.head()
        floor = min(floor, head)
        gap = await self._first_gap(floor, head)
        pending = await self.first_pending()
        return gap if pending is None else min(gap, pending)

    async def _first_gap(self, floor: int, head: int) -> int:
        """The lowest cursor in floor+1..head with no event; head + 1 if none."""
        if await self._written(floor, head) == head - floor:
            return head + 1
        # Cursors never repeat, so fewer than c - floor events in floor+1..c
        # means one of them is missing: search for the first such c.
        low, high = floor + 1, head
        while low < high:
            middle = (low + high) // 2
            if await self._written(floor, middle) < middle - floor:
                high = middle
            else:
                low = middle + 1
        return low

    async def _written(self, above: int, up_to: int) -> int:
        return await self._events.count({"_id": {"$gt": above, "$lte": up_to}})

    async def first_pending(self) -> int | None:
        docs = await self._events.find_many(
            {"state": EventState.PENDING.value},
            sort=[("_id", 1)],
            limit=1,
            projection={"_id": 1},
        )
        return int(docs[0]["_id"]) if docs else None

    async def skip(self, seq: int) -> bool:
        """Fill a cursor that was reserved but never written; False if it exists."""
        try:
            await self._events.insert_one(
                {
                    "_id": seq,
                    "state": EventState.SKIPPED.value,
                    "occurred_at": utc_now(),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def list_committed(
        self,
        scope: dict[str, Any],
        query: dict[str, Any],
        before: int | None,
        limit: int,
    ) -> list[Event]:
        page = {"_id": {"$lt": before}} if before is not None else None
        docs = await self._events.find_many(
            combine({"state": EventState.COMMITTED.value}, scope, query, page),
            sort=[("_id", -1)],
            limit=limit,
        )
        return [event_from_doc(doc) for doc in docs]

    async def count_committed(
        self, scope: dict[str, Any], query: dict[str, Any]
    ) -> int:
        return await self._events.count(
            combine({"state": EventState.COMMITTED.value}, scope, query)
        )


def event_to_doc(
    seq: int, event: NewEvent, now: datetime, lease_until: datetime
) -> dict[str, Any]:
    return {
        "_id": seq,
        "state": EventState.PENDING.value,
        "type": event.type.value,
        "occurred_at": now,
        "lease_until": lease_until,
        "actor": event.actor,
        "project_id": object_id(event.project_id),
        "project": event.project,
        "environment": event.environment,
        "collection_id": object_id(event.collection_id)
        if event.collection_id
        else None,
        "collection_name": event.collection_name,
        "resource": event.resource,
        "changes": changes_to_doc(event.changes),
        "promotion_id": object_id(event.promotion_id) if event.promotion_id else None,
        "run_id": object_id(event.run_id) if event.run_id else None,
        "op": event.operation,
    }


def event_from_doc(doc: dict[str, Any]) -> Event:
    collection_id = doc.get("collection_id")
    promotion_id = doc.get("promotion_id")
    return Event(
        seq=int(doc["_id"]),
        type=EventType(doc["type"]),
        state=EventState(doc["state"]),
        occurred_at=utc(doc["occurred_at"]),
        actor=doc.get("actor"),
        project_id=str(doc["project_id"]),
        project=doc["project"],
        environment=doc.get("environment"),
        collection_id=str(collection_id) if collection_id else None,
        collection_name=doc.get("collection_name"),
        resource=doc.get("resource"),
        changes=changes_from_doc(doc.get("changes", [])),
        promotion_id=str(promotion_id) if promotion_id else None,
        run_id=str(doc["run_id"]) if doc.get("run_id") else None,
    )


def audit_query(
    *,
    project_id: str | None = None,
    environment: str | None = None,
    collection_id: str | None = None,
    actor: str | None = None,
    types: list[EventType] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if project_id is not None:
        parts.append({"project_id": object_id(project_id)})
    if environment is not None:
        parts.append({"environment": environment})
    if collection_id is not None:
        parts.append({"collection_id": object_id(collection_id)})
    if actor is not None:
        parts.append({"actor": actor})
    if types:
        parts.append({"type": {"$in": [t.value for t in types]}})
    if since is not None:
        parts.append({"occurred_at": {"$gte": since}})
    if until is not None:
        parts.append({"occurred_at": {"$lt": until}})
    return combine(*parts)


def scope_filter(
    member_project_ids: list[str] | None,
    readable_collection_ids: list[str],
) -> dict[str, Any]:
    """Events a subject may read: its projects', and
    its collections' (past ones too)."""
    if member_project_ids is None:
        return {}
    return {
        "$or": [
            {"project_id": {"$in": [object_id(v) for v in member_project_ids]}},
            {"collection_id": {"$in": [object_id(v) for v in readable_collection_ids]}},
        ]
    }
