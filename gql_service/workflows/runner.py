"""The runner: claims due runs with a lease and moves them one step at a time.

Runs live in the database. A runner leases a run before working on it, so
with several processes no step runs twice at once; a run whose runner died
is taken over when the lease runs out, and its current step runs again with
the same idempotency key (outgoing calls are at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from gql_service.domain.models import ResourceReference, ServiceCollection, utc_now
from gql_service.domain.workflows import (
    ApprovalAction,
    Run,
    RunStatus,
    StepStatus,
)
from gql_service.errors import ConflictError, NotFoundError, ServiceError
from gql_service.storage.store import Store
from gql_service.workflows.actions import StepContext, StepExecutor, StepFailedError
from gql_service.workflows.runs import (
    RunRecorder,
    finish_fields,
    step_fields,
    waiting_fields,
)
from gql_service.workflows.scheduler import Scheduler

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Runner:
    def __init__(
        self,
        store: Store,
        recorder: RunRecorder,
        executor: StepExecutor,
        scheduler: Scheduler,
        *,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        clock: Clock = utc_now,
        expire_promotions: Callable[[datetime], Any] | None = None,
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._executor = executor
        self._scheduler = scheduler
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._clock = clock
        self._expire_promotions = expire_promotions
        self.owner = "runner-" + uuid.uuid4().hex[:12]
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="workflow-runner")

    async def stop(self) -> None:
        """Stop and hand the leases back, so another process takes over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(ServiceError):
            released = await self._store.runs.release_all(self.owner)
            if released:
                logger.info("Released %d workflow run leases", released)

    async def _loop(self) -> None:
        while True:
            try:
                while await self.tick():
                    pass
            except Exception:
                logger.exception("Workflow runner failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()

    async def tick(self) -> bool:
        """Do the due housekeeping and advance one run; True if a run moved."""
        now = self._clock()
        await self._scheduler.start_due(now)
        await self._time_out_approvals(now)
        if self._expire_promotions is not None:
            await self._expire_promotions(now)
        run = await self._store.runs.claim(self.owner, now, now + self._lease)
        if run is None:
            return False
        try:
            await self.advance(run)
        except ConflictError:
            # Cancelled or decided meanwhile; whoever changed it owns the state.
            logger.info("Run %s changed under the runner; leaving it", run.id)
        finally:
            await self._store.runs.release(run.id, self.owner)
        return True

    async def advance(self, run: Run) -> None:
        collection = await self._store.collections.get(run.collection_id)
        workflow = await self._store.workflows.get(run.workflow_id)
        if collection is None or workflow is None:
            fields = finish_fields(run, RunStatus.CANCELLED, StepStatus.CANCELLED)
            await self._recorder.change(run, fields, actor=None, lease_owner=self.owner)
            return
        if run.status is RunStatus.QUEUED:
            run = await self._recorder.change(
                run,
                {"status": RunStatus.RUNNING.value, "started_at": self._clock()},
                actor=None,
                lease_owner=self.owner,
            )
        step = run.steps[run.current_step]
        if isinstance(step.action, ApprovalAction):
            fields = waiting_fields(run, step.action)
            await self._recorder.change(run, fields, actor=None, lease_owner=self.owner)
            return

        step.status = StepStatus.RUNNING
        step.attempts += 1
        step.started_at = self._clock()
        run = await self._recorder.change(
            run, step_fields(step), actor=None, lease_owner=self.owner
        )
        context = await self._context(run, workflow.name, collection)
        async with self._keep_lease(run):
            try:
                output = await self._executor.run(step.action, context)
            except StepFailedError as exc:
                await self._fail(run, str(exc))
                return
        await self._succeed(run, output)

    async def _context(
        self, run: Run, workflow_name: str, collection: ServiceCollection
    ) -> StepContext:
        resources: list[ResourceReference] = await self._store.resources.list_all(
            collection.id
        )
        event = None
        if run.event_seq is not None:
            doc = await self._store.events.get_doc(run.event_seq)
            if doc is not None:
                event = {
                    "cursor": run.event_seq,
                    "type": doc.get("type"),
                    "actor": doc.get("actor"),
                    "occurredAt": doc["occurred_at"].isoformat(),
                }
        return StepContext(run, workflow_name, collection, resources, event)

    async def _succeed(self, run: Run, output: dict[str, Any]) -> None:
        step = run.steps[run.current_step]
        step.status = StepStatus.SUCCEEDED
        step.output = output
        step.error = None
        step.finished_at = self._clock()
        fields = step_fields(step)
        if run.current_step + 1 >= len(run.steps):
            fields.update(
                {"status": RunStatus.SUCCEEDED.value, "finished_at": self._clock()}
            )
        else:
            fields.update(
                {"current_step": run.current_step + 1, "next_attempt_at": self._clock()}
            )
        await self._recorder.change(run, fields, actor=None, lease_owner=self.owner)
        self.wake()

    async def _fail(self, run: Run, message: str) -> None:
        fields = finish_fields(run, RunStatus.FAILED, StepStatus.FAILED)
        fields[f"steps.{run.current_step}"]["error"] = message
        await self._recorder.change(run, fields, actor=None, lease_owner=self.owner)
        logger.info("Workflow run %s failed at step %d", run.id, run.current_step)

    @contextlib.asynccontextmanager
    async def _keep_lease(self, run: Run) -> AsyncIterator[None]:
        """Renew the lease while a long step (a deploy, a health check) runs."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self._lease.total_seconds() / 3)
                await self._store.runs.renew(
                    run.id, self.owner, self._clock() + self._lease
                )

        keeper = asyncio.create_task(renew())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, ServiceError):
                await keeper

    async def _time_out_approvals(self, now: datetime) -> None:
        for run in await self._store.runs.waiting_past_deadline(now, 20):
            fields = finish_fields(run, RunStatus.TIMED_OUT, StepStatus.TIMED_OUT)
            with contextlib.suppress(ConflictError, NotFoundError):
                await self._recorder.change(run, fields, actor=None)
                logger.info("Workflow run %s timed out waiting for approval", run.id)
