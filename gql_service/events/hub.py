"""The live feed of one process: a tailer over the event log and its subscribers.

One task per process reads the log in cursor order, never past an event
that is still pending, and hands each committed event to the subscribers
that may read it. Every process tails the same database, so a change made
through any process reaches subscribers of all of them. Each subscriber
has a bounded queue; one that falls behind is ended with
SUBSCRIPTION_OVERFLOW and the cursor to resume from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gql_service.auth.principal import Principal
from gql_service.domain.models import Grant, utc_now
from gql_service.errors import SubscriptionOverflowError, UnauthenticatedError
from gql_service.events.log import EventLog, Sweeper
from gql_service.events.model import Event, EventState, EventType
from gql_service.events.visibility import CollectionState, can_read_event
from gql_service.storage.events import event_from_doc
from gql_service.storage.store import Store

logger = logging.getLogger(__name__)

# Events after which cached grants of their project or collection are stale.
GRANT_CHANGES = frozenset(
    {
        EventType.PROJECT_CREATED,
        EventType.PROJECT_UPDATED,
        EventType.PERMISSIONS_CHANGED,
        EventType.COLLECTION_CREATED,
        EventType.COLLECTION_DELETED,
        EventType.ENVIRONMENT_PROMOTED,
    }
)
CACHE_LIMIT = 10_000
WINDOW = 500


@dataclass(frozen=True, slots=True)
class EventFilter:
    project: str | None = None
    environment: str | None = None
    collection_id: str | None = None
    types: frozenset[EventType] | None = None

    def matches(self, event: Event) -> bool:
        return (
            (self.project is None or event.project == self.project)
            and (self.environment is None or event.environment == self.environment)
            and (
                self.collection_id is None or event.collection_id == self.collection_id
            )
            and (self.types is None or event.type in self.types)
        )


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    filter: EventFilter
    queue: asyncio.Queue[Event]
    # The newest cursor handed to the client; where to resume after overflow.
    delivered: int = 0
    overflowed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class HubOptions:
    poll_interval: float = 0.1
    queue_size: int = 1000
    # How long a reserved cursor may stay unwritten before it is skipped.
    gap_timeout: float = 5.0
    sweep_interval: float = 2.0


# Where the counters keep the highest position any tailer has reached.
TAILER = "event-tailer"


class EventHub:
    def __init__(
        self, store: Store, log: EventLog, options: HubOptions | None = None
    ) -> None:
        self._store = store
        self._log = log
        self._sweeper = Sweeper(log)
        self.options = options or HubOptions()
        self.position = 0
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gap_since: float | None = None
        self._project_grants: dict[str, tuple[Grant, ...]] = {}
        self._collections: dict[str, CollectionState | None] = {}
        # Durable consumers (workflow triggers): called for each committed
        # event in order, and once at start to catch up to the start cursor.
        self.consumers: list[Callable[[Event], Awaitable[None]]] = []
        self.catch_ups: list[Callable[[int], Awaitable[Any]]] = []
        # Called after each batch with the new position (durable progress).
        self.flushes: list[Callable[[int], Awaitable[Any]]] = []
        log.listeners.append(self.wake)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        events = self._store.events
        floor = await events.position(TAILER) or 0
        self.position = await events.first_unresolved(floor) - 1
        for catch_up in self.catch_ups:
            await catch_up(self.position)
        self._task = asyncio.create_task(self._run(), name="event-hub")
        logger.info("Event hub started at cursor %d", self.position)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscriber in list(self._subscribers):
            subscriber.wake.set()
        self._subscribers.clear()

    async def _run(self) -> None:
        last_sweep = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.poll_interval)
            self._wake.clear()
            try:
                before = self.position
                while await self.poll() == WINDOW:
                    pass
                if self.position != before:
                    # Everything up to here is resolved for good: the next
                    # start of any process may search for gaps above it.
                    await self._store.events.advance_position(TAILER, self.position)
                    for flush in self.flushes:
                        await flush(self.position)
                if time.monotonic() - last_sweep > self.options.sweep_interval:
                    last_sweep = time.monotonic()
                    await self._sweeper.sweep(after=self.position)
            except Exception:
                # The database may be away; keep the tailer alive and retry.
                logger.exception("Event tailer failed; retrying")
                await asyncio.sleep(self.options.poll_interval * 10)

    async def poll(self) -> int:
        """Advance over resolved events in order; return how many were read."""
        # Every event's cursor is reserved from the counter first, so a head
        # at our position means there is nothing to read: one cheap lookup
        # instead of a range query when idle.
        head = await self._store.events.head()
        if head <= self.position:
            return 0
        docs = await self._store.events.window(self.position, WINDOW)
        for doc in docs:
            seq = int(doc["_id"])
            if seq != self.position + 1:
                await self._on_gap()
                return len(docs)
            if doc["state"] == EventState.PENDING.value:
                return len(docs)
            self._gap_since = None
            if doc["state"] == EventState.COMMITTED.value:
                event = event_from_doc(doc)
                # A consumer that fails leaves the position here: retried.
                for consume in self.consumers:
                    await consume(event)
                self.position = seq
                await self._dispatch(event)
            else:
                self.position = seq
        if not docs:
            await self._on_gap()
        return len(docs)

    async def _on_gap(self) -> None:
        # A cursor was reserved but its event is not written (yet).
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
        elif now - self._gap_since > self.options.gap_timeout:
            if await self._store.events.skip(self.position + 1):
                logger.warning(
                    "Cursor %d was never written; skipped", self.position + 1
                )
            self._gap_since = None

    async def _dispatch(self, event: Event) -> None:
        if event.type in GRANT_CHANGES:
            self._forget(event)
        if not self._subscribers:
            return
        try:
            grants, collection = await self.grants_for(event)
        except Exception:
            # The tailer has moved past this event; a live subscriber that
            # may want it is ended with its last cursor instead, and replays
            # it from the store when it resumes (as after an overflow).
            self._end_subscribers_wanting(event)
            raise
        for subscriber in list(self._subscribers):
            if subscriber.overflowed or not subscriber.filter.matches(event):
                continue
            if not can_read_event(subscriber.principal, event, grants, collection):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True
                logger.warning(
                    "Subscriber fell behind at cursor %d; ending it", event.seq
                )
            subscriber.wake.set()

    def _end_subscribers_wanting(self, event: Event) -> None:
        ended = 0
        for subscriber in self._subscribers:
            if not subscriber.overflowed and subscriber.filter.matches(event):
                subscriber.overflowed = True
                subscriber.wake.set()
                ended += 1
        logger.warning(
            "Could not check who may read event %d; %d subscribers resume "
            "from their last cursor",
            event.seq,
            ended,
        )

    def _forget(self, event: Event) -> None:
        self._project_grants.pop(event.project_id, None)
        if event.collection_id:
            self._collections.pop(event.collection_id, None)
        if len(self._collections) > CACHE_LIMIT:
            self._collections.clear()
            self._project_grants.clear()

    async def grants_for(
        self, event: Event
    ) -> tuple[tuple[Grant, ...], CollectionState | None]:
        project_id = event.project_id
        if project_id not in self._project_grants:
            project = await self._store.projects.get(project_id)
            self._project_grants[project_id] = tuple(project.grants) if project else ()
        collection_id = event.collection_id
        if collection_id is None:
            return self._project_grants[project_id], None
        if collection_id not in self._collections:
            self._collections[collection_id] = await self._collection_state(
                collection_id
            )
        return self._project_grants[project_id], self._collections[collection_id]

    async def _collection_state(self, collection_id: str) -> CollectionState | None:
        collection = await self._store.collections.get(collection_id)
        if collection is not None:
            return CollectionState(grants=tuple(collection.grants))
        readers = await self._store.tombstones.readers(collection_id)
        if readers is None:
            return None
        return CollectionState(deleted_readers=frozenset(readers))

    # Subscriptions ------------------------------------------------------

    def open(
        self, principal: Principal, event_filter: EventFilter
    ) -> tuple[Subscriber, int]:
        """Register a subscriber; return it and the
        cursor its live feed starts after."""
        subscriber = Subscriber(
            principal, event_filter, asyncio.Queue(self.options.queue_size)
        )
        self._subscribers.add(subscriber)
        logger.info("Subscription opened (%d live)", len(self._subscribers))
        return subscriber, self.position

    def close(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            logger.info("Subscription closed (%d live)", len(self._subscribers))

    async def stream(
        self, principal: Principal, event_filter: EventFilter, after: int | None
    ) -> AsyncIterator[Event]:
        """Replay after ``after`` from the log, then follow live, with no seam."""
        subscriber, live_from = self.open(principal, event_filter)
        try:
            start = live_from if after is None else after
            subscriber.delivered = start
            async for event in self._replay(subscriber, start, live_from):
                subscriber.delivered = event.seq
                yield event
            async for event in self._live(subscriber):
                subscriber.delivered = event.seq
                yield event
        finally:
            self.close(subscriber)

    async def _replay(
        self, subscriber: Subscriber, after: int, until: int
    ) -> AsyncIterator[Event]:
        position = after
        while position < until:
            docs = await self._store.events.window(
                position, min(WINDOW, until - position)
            )
            if not docs:
                return
            for doc in docs:
                position = int(doc["_id"])
                if position > until:
                    return
                if doc["state"] != EventState.COMMITTED.value:
                    continue
                event = event_from_doc(doc)
                if subscriber.filter.matches(event):
                    grants, collection = await self.grants_for(event)
                    if can_read_event(subscriber.principal, event, grants, collection):
                        yield event

    async def _live(self, subscriber: Subscriber) -> AsyncIterator[Event]:
        while True:
            while not subscriber.queue.empty():
                _check_token(subscriber)
                event = subscriber.queue.get_nowait()
                if event.seq > subscriber.delivered:
                    yield event
            _check_token(subscriber)
            if subscriber.overflowed:
                raise SubscriptionOverflowError(
                    "The subscription fell behind or was interrupted; resume "
                    "from lastCursor.",
                    lastCursor=subscriber.delivered,
                )
            if self._task is None:
                return
            subscriber.wake.clear()
            await self._wait(subscriber)

    async def _wait(self, subscriber: Subscriber) -> None:
        """Sleep until an event comes, or end the feed when the token runs out."""
        expires = subscriber.principal.expires_at
        if expires is None:
            await subscriber.wake.wait()
            return
        remaining = (expires - utc_now()).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscriber.wake.wait(), max(remaining, 0))
        _check_token(subscriber)


def _check_token(subscriber: Subscriber) -> None:
    expires = subscriber.principal.expires_at
    if expires is not None and expires <= utc_now():
        raise UnauthenticatedError("The token has expired; reconnect with a fresh one.")
