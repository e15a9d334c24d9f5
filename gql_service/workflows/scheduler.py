"""Scheduled triggers: one run per cron tick, whichever process gets there first."""

from __future__ import annotations

import logging
from datetime import datetime

from gql_service.domain.workflow_rules import next_tick
from gql_service.domain.workflows import Workflow, WorkflowTrigger
from gql_service.storage.store import Store
from gql_service.workflows.runs import RunPlace, RunRecorder

logger = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, store: Store, recorder: RunRecorder) -> None:
        self._store = store
        self._recorder = recorder

    async def start_due(self, now: datetime) -> int:
        started = 0
        for workflow in await self._store.workflows.due(now, 20):
            if await self._start(workflow, now):
                started += 1
        return started

    async def _start(self, workflow: Workflow, now: datetime) -> bool:
        tick = workflow.next_run_at
        assert tick is not None and workflow.schedule is not None
        # Ticks missed while no process ran are made up by one run, not many.
        following = next_tick(workflow.schedule, max(tick, now))
        if not await self._store.workflows.claim_tick(workflow.id, tick, following):
            return False
        collection = await self._store.collections.get(workflow.collection_id)
        if collection is None:
            return False
        place = RunPlace(
            collection.project_id,
            collection.project,
            collection.environment,
            collection.id,
            collection.name,
        )
        run = await self._recorder.create(
            workflow,
            place,
            WorkflowTrigger.SCHEDULED,
            actor=None,
            trigger_key=f"schedule:{workflow.id}:{tick.isoformat()}",
        )
        if run is not None:
            logger.info("Scheduled run %s of workflow %s", run.id, workflow.id)
        return run is not None
