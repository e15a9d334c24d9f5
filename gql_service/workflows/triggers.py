"""Event triggers: each committed event starts each matching workflow once.

Every process sees every event (see events.hub) and tries to start the
runs; the unique trigger key on runs lets exactly one attempt through. The
position up to which events were handled is kept in the database, so
events committed while no process was running start their runs after a
restart.
"""

from __future__ import annotations

import logging

from gql_service.domain.workflow_rules import conditions_hold
from gql_service.domain.workflows import EVENT_TRIGGERS, Workflow
from gql_service.events.model import Event, EventState, EventType
from gql_service.storage.events import event_from_doc
from gql_service.storage.store import Store
from gql_service.workflows.runs import RunPlace, RunRecorder

logger = logging.getLogger(__name__)

POSITION = "workflow-triggers"


# Events after which a collection's cached workflows are stale.
WORKFLOW_CHANGES = frozenset(
    {
        EventType.WORKFLOW_CREATED,
        EventType.WORKFLOW_UPDATED,
        EventType.WORKFLOW_DELETED,
        EventType.ENVIRONMENT_PROMOTED,
        EventType.COLLECTION_DELETED,
    }
)
CACHE_LIMIT = 10_000


class TriggerDispatcher:
    def __init__(self, store: Store, recorder: RunRecorder) -> None:
        self._store = store
        self._recorder = recorder
        # Workflows per collection, kept current by the events that change
        # them, which this dispatcher sees in order before any later event.
        self._workflows: dict[str, list[Workflow]] = {}
        self._handled = 0
        # Events at or below the stored position were handled before this
        # process started; the tailer may hand them over again when it
        # starts below a cursor that was never written.
        self._done_before = 0

    async def on_event(self, event: Event) -> None:
        if event.type in WORKFLOW_CHANGES and event.collection_id:
            self._workflows.pop(event.collection_id, None)
        if event.seq <= self._done_before:
            return
        await self._start_runs(event)
        self._handled = event.seq

    async def flush(self, _position: int) -> None:
        """Store how far events were handled; a restart resumes from there."""
        if self._handled:
            await self._store.events.advance_position(POSITION, self._handled)

    async def _listening(self, collection_id: str) -> list[Workflow]:
        if collection_id not in self._workflows:
            if len(self._workflows) > CACHE_LIMIT:
                self._workflows.clear()
            found = await self._store.workflows.for_collections([collection_id])
            self._workflows[collection_id] = found
        return self._workflows[collection_id]

    async def _start_runs(self, event: Event) -> None:
        trigger = EVENT_TRIGGERS.get(event.type.value)
        if trigger is None or event.collection_id is None:
            return
        # A workflow created after the event did not exist when it happened:
        # the cache (or a catch-up after a restart) may load it before this
        # older event is handled, and it must not start a run for it.
        workflows = [
            w
            for w in await self._listening(event.collection_id)
            if w.enabled and trigger in w.triggers and w.created_at <= event.occurred_at
        ]
        for workflow in workflows:
            if not conditions_hold(
                workflow.conditions, event.type.value, event.environment, event.resource
            ):
                continue
            place = RunPlace(
                event.project_id,
                event.project,
                event.environment or "",
                event.collection_id,
                event.collection_name or "",
            )
            await self._recorder.create(
                workflow,
                place,
                trigger,
                actor=event.actor,
                trigger_key=f"event:{event.seq}:{workflow.id}",
                event_seq=event.seq,
            )

    async def catch_up(self, until: int) -> int:
        """Handle the events committed since the stored position, up to ``until``."""
        position = await self._store.events.position(POSITION)
        if position is None:
            # First start: the history before it starts nothing.
            await self._store.events.advance_position(POSITION, until)
            self._done_before = until
            return 0
        self._done_before = position
        handled = 0
        while position < until:
            docs = await self._store.events.window(position, min(500, until - position))
            if not docs:
                break
            for doc in docs:
                position = int(doc["_id"])
                if position > until:
                    break
                if doc["state"] == EventState.COMMITTED.value:
                    await self.on_event(event_from_doc(doc))
                    handled += 1
        await self._store.events.advance_position(POSITION, until)
        if handled:
            logger.info("Workflow triggers caught up over %d events", handled)
        return handled
