"""Creating runs and moving them between states, each change with its event."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId

from gql_service.domain.models import FieldChange, utc_now
from gql_service.domain.workflows import (
    ApprovalAction,
    Run,
    RunStatus,
    Step,
    StepStatus,
    Workflow,
    WorkflowTrigger,
)
from gql_service.errors import ConflictError
from gql_service.events.log import EventLog
from gql_service.events.model import EventType, NewEvent
from gql_service.storage.documents import object_id
from gql_service.storage.store import Store
from gql_service.storage.workflow_documents import (
    run_from_doc,
    run_to_doc,
    step_to_doc,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunPlace:
    """Where a run belongs, copied onto it so events need no lookup."""

    project_id: str
    project: str
    environment: str
    collection_id: str
    collection_name: str


class RunRecorder:
    def __init__(self, store: Store, log: EventLog) -> None:
        self._store = store
        self._log = log
        # Runs entering each status through this process (read by /metrics).
        self.transitions: Counter[str] = Counter()

    async def create(
        self,
        workflow: Workflow,
        place: RunPlace,
        trigger: WorkflowTrigger,
        *,
        actor: str | None,
        trigger_key: str,
        event_seq: int | None = None,
        run_input: dict[str, Any] | None = None,
    ) -> Run | None:
        """Start a run; None when this trigger already started one."""
        now = utc_now()
        run = Run(
            id=str(ObjectId()),
            workflow_id=workflow.id,
            collection_id=place.collection_id,
            project_id=place.project_id,
            trigger=trigger,
            triggered_by=actor,
            event_seq=event_seq,
            input=run_input or {},
            status=RunStatus.QUEUED,
            steps=[
                Step(index, action) for index, action in enumerate(workflow.actions)
            ],
            created_at=now,
            next_attempt_at=now,
        )
        doc = {
            **run_to_doc(run, trigger_key),
            "project": place.project,
            "environment": place.environment,
            "collection_name": place.collection_name,
            "workflow_name": workflow.name,
            "version": 1,
        }
        event = self._event(
            place,
            run.id,
            actor,
            {"kind": "insert_run", "doc": doc},
            [FieldChange("status", None, RunStatus.QUEUED.value)],
        )
        try:
            await self._log.execute([event])
        except ConflictError:
            return None
        self.transitions[RunStatus.QUEUED.value] += 1
        logger.info("Workflow run %s queued (%s)", run.id, trigger.value)
        return run

    def _event(
        self,
        place: RunPlace,
        run_id: str,
        actor: str | None,
        operation: dict[str, Any],
        changes: list[FieldChange],
    ) -> NewEvent:
        return NewEvent(
            type=EventType.WORKFLOW_RUN_UPDATED,
            actor=actor,
            project_id=place.project_id,
            project=place.project,
            operation=operation,
            environment=place.environment,
            collection_id=place.collection_id,
            collection_name=place.collection_name,
            changes=changes,
            run_id=run_id,
        )

    async def place_of(self, run_id: str) -> tuple[RunPlace, int] | None:
        doc = await self._store.runs.raw(run_id)
        if doc is None:
            return None
        place = RunPlace(
            project_id=str(doc["project_id"]),
            project=doc["project"],
            environment=doc["environment"],
            collection_id=str(doc["collection_id"]),
            collection_name=doc["collection_name"],
        )
        return place, int(doc.get("version", 1))

    async def change(
        self,
        run: Run,
        fields: dict[str, Any],
        *,
        actor: str | None,
        lease_owner: str | None = None,
    ) -> Run:
        """Write ``fields`` if the run is still at ``version``; CONFLICT if not."""
        found = await self.place_of(run.id)
        if found is None:
            raise ConflictError("The run is gone.")
        place, _current = found
        expect: dict[str, Any] = {"version": run.version}
        if lease_owner is not None:
            expect["lease_owner"] = lease_owner
        operation = {
            "kind": "update_run",
            "run_id": object_id(run.id),
            "expect": expect,
            "set": fields,
            "inc": {"version": 1},
            "conflict": "The run changed meanwhile; reload it and retry.",
        }
        changes = []
        if "status" in fields and fields["status"] != run.status.value:
            changes.append(FieldChange("status", run.status.value, fields["status"]))
        event = self._event(place, run.id, actor, operation, changes)
        outcome = await self._log.execute([event])
        if changes:
            self.transitions[fields["status"]] += 1
        return run_from_doc(outcome.value["run"])


def step_fields(step: Step) -> dict[str, Any]:
    return {f"steps.{step.index}": step_to_doc(step)}


def finish_fields(
    run: Run, status: RunStatus, step_status: StepStatus
) -> dict[str, Any]:
    """Close the run: the current step gets ``step_status``, later ones SKIPPED."""
    now = utc_now()
    fields: dict[str, Any] = {
        "status": status.value,
        "finished_at": now,
        "lease_owner": None,
        "lease_until": None,
        "approvers": [],
        "approval_deadline": None,
    }
    for step in run.steps[run.current_step :]:
        if step.status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
            continue
        step.status = (
            step_status if step.index == run.current_step else StepStatus.SKIPPED
        )
        step.finished_at = now
        fields.update(step_fields(step))
    return fields


def waiting_fields(run: Run, action: ApprovalAction) -> dict[str, Any]:
    step = run.steps[run.current_step]
    now = utc_now()
    step.status = StepStatus.WAITING_FOR_APPROVAL
    step.started_at = step.started_at or now
    step.attempts += 1
    step.deadline = now + timedelta(seconds=action.timeout_seconds)
    return {
        **step_fields(step),
        "status": RunStatus.WAITING_FOR_APPROVAL.value,
        "approvers": list(action.approvers),
        "approval_deadline": step.deadline,
        "lease_owner": None,
        "lease_until": None,
    }
