"""Record a change and its events as one logical step.

1. reserve cursors and insert the events as pending, each carrying the
   operation that makes its change;
2. apply the operation (idempotent, see storage.changes);
3. mark the events committed, or aborted if the change was refused.

A process that dies after 1 leaves pending events; the sweeper of any
process finishes the operation if its first write happened, else aborts
the events. A writer that stalls past its lease and finds its events
aborted records them again under new cursors, so no change ever lacks its
event and no event lacks its change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from gql_service.domain.models import utc_now
from gql_service.errors import ServiceError, ServiceUnavailableError
from gql_service.events.model import EventState, NewEvent
from gql_service.storage.changes import ChangeApplier
from gql_service.storage.events import CursorTakenError, EventRepository
from gql_service.storage.outcome import Outcome

logger = logging.getLogger(__name__)

RESERVE_ATTEMPTS = 5


class EventLog:
    def __init__(
        self,
        repository: EventRepository,
        applier: ChangeApplier,
        *,
        lease_seconds: float = 15.0,
    ) -> None:
        self.repository = repository
        self.applier = applier
        self.lease = timedelta(seconds=lease_seconds)
        # Called after each commit so the local tailer looks at once.
        self.listeners: list[Callable[[], None]] = []
        # Events this process committed, by type (read by /metrics).
        self.recorded: Counter[str] = Counter()

    async def execute(self, events: list[NewEvent]) -> Outcome:
        seqs = await self._record_pending(events)
        try:
            outcome = await self.applier.apply(seqs, [e.operation for e in events])
        except ServiceUnavailableError:
            # The change may be half done and the database may be gone: leave
            # the events pending for the sweeper, which can tell.
            raise
        except ServiceError:
            await self.repository.set_state(
                seqs, EventState.PENDING, EventState.ABORTED
            )
            self._notify()
            raise
        except asyncio.CancelledError:
            # The change may be half done; the sweeper finishes or aborts it.
            logger.warning(
                "Change interrupted after cursor %d; the sweeper takes over", seqs[0]
            )
            raise

        if outcome.refused:
            await self.repository.set_state(
                list(outcome.refused), EventState.PENDING, EventState.ABORTED
            )
        done = [seq for seq in seqs if seq not in outcome.refused]
        if done:
            await self._commit(done)
            self.recorded.update(
                event.type.value
                for seq, event in zip(seqs, events, strict=True)
                if seq not in outcome.refused
            )
        self._notify()
        outcome.value["seqs"] = seqs
        return outcome

    async def _record_pending(self, events: list[NewEvent]) -> list[int]:
        for _attempt in range(RESERVE_ATTEMPTS):
            first = await self.repository.reserve(len(events))
            try:
                await self.repository.insert_pending(
                    first, events, utc_now() + self.lease
                )
            except CursorTakenError:
                # A tailer gave these cursors up while we were slow; take new ones.
                logger.warning(
                    "Cursor %d was skipped before it was written; retrying", first
                )
                continue
            return list(range(first, first + len(events)))
        raise RuntimeError("could not reserve event cursors")

    async def _commit(self, seqs: list[int]) -> None:
        committed = await self.repository.set_state(
            seqs, EventState.PENDING, EventState.COMMITTED
        )
        if committed == len(seqs):
            return
        # We outlived our lease and the sweeper aborted some of our events
        # although their change is applied: record those again.
        for seq in seqs:
            doc = await self.repository.get_doc(seq)
            if doc is not None and doc["state"] == EventState.ABORTED.value:
                await self.repository.re_record(doc)
                logger.warning("Event %d re-recorded after its lease ran out", seq)

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()


class Sweeper:
    """Finishes or aborts the pending events whose writer went away."""

    def __init__(self, log: EventLog, batch: int = 100) -> None:
        self._log = log
        self._batch = batch

    async def sweep(self, now: datetime | None = None, after: int = 0) -> int:
        """Settle pending events whose lease ran out before ``now``.

        ``after`` is a cursor known to have no pending event at or before it
        (the tailer's position: it never passes one), so the search starts
        there instead of at the beginning of the log.
        """
        repository = self._log.repository
        stale = await repository.stale_pending(now or utc_now(), self._batch, after)
        for doc in stale:
            await self._settle(doc)
        if stale:
            self._log._notify()
        return len(stale)

    async def _settle(self, doc: dict[str, object]) -> None:
        repository = self._log.repository
        seq = int(doc["_id"])  # type: ignore[call-overload]
        operation = doc["op"]
        assert isinstance(operation, dict)
        if not await self._log.applier.is_applied(seq, operation):
            await repository.set_state([seq], EventState.PENDING, EventState.ABORTED)
            logger.warning("Pending event %d never took effect; aborted", seq)
            return
        try:
            await self._log.applier.apply([seq], [operation])
        except ServiceUnavailableError:
            return
        except ServiceError:
            # Refused steps undo what they wrote, so nothing of it remains.
            await repository.set_state([seq], EventState.PENDING, EventState.ABORTED)
            logger.warning("Pending event %d could not be finished; aborted", seq)
            return
        await repository.set_state([seq], EventState.PENDING, EventState.COMMITTED)
        self._log.recorded[str(doc["type"])] += 1
        logger.warning("Pending event %d finished by the sweeper", seq)
