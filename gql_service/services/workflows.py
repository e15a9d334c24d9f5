"""Workflow definitions and runs as the API sees them: rules and permissions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from bson import ObjectId

from gql_service.auth.principal import Principal
from gql_service.domain import validation
from gql_service.domain import workflow_rules as rules
from gql_service.domain.models import UNCHANGED, FieldChange, ServiceCollection, utc_now
from gql_service.domain.roles import Role
from gql_service.domain.workflows import (
    Action,
    ApprovalAction,
    Conditions,
    Decision,
    Run,
    RunStatus,
    StepStatus,
    Verdict,
    Workflow,
    WorkflowTrigger,
)
from gql_service.errors import (
    BadUserInputError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from gql_service.events.log import EventLog
from gql_service.events.model import EventType
from gql_service.outbound.http import redact_url
from gql_service.services.access import Access
from gql_service.services.recording import collection_event
from gql_service.storage.documents import object_id
from gql_service.storage.paging import combine
from gql_service.storage.store import Store
from gql_service.storage.workflow_documents import (
    action_to_doc,
    conditions_to_doc,
    workflow_from_doc,
    workflow_to_doc,
)
from gql_service.storage.workflow_store import run_query, run_scope
from gql_service.workflows.runs import (
    RunPlace,
    RunRecorder,
    finish_fields,
    step_fields,
)

logger = logging.getLogger(__name__)

REVIEW_ATTEMPTS = 5
# Runs read per page while looking for those awaiting a subject's decision,
# and the most such runs counted.
DECIDABLE_BATCH = 100
MAX_DECIDABLE = 10_000


@dataclass(slots=True)
class WorkflowSpec:
    """A definition as the client sent it; UNCHANGED fields keep their value."""

    name: Any = UNCHANGED
    description: Any = UNCHANGED
    triggers: Any = UNCHANGED
    schedule: Any = UNCHANGED
    conditions: Any = UNCHANGED
    actions: Any = UNCHANGED
    permissions: Any = UNCHANGED
    enabled: Any = UNCHANGED


@dataclass(slots=True)
class RunFilter:
    collection_id: str | None = None
    statuses: list[RunStatus] = field(default_factory=list)
    awaiting_my_approval: bool = False


def redacted_action(action: Action) -> dict[str, Any]:
    """An action for the audit log: URLs cut to scheme and host."""
    doc = action_to_doc(action)
    for key in ("target", "webhook_url", "url"):
        if isinstance(doc.get(key), str) and "://" in doc[key]:
            doc[key] = redact_url(doc[key])
    return doc


class WorkflowService:
    def __init__(self, store: Store, log: EventLog, recorder: RunRecorder) -> None:
        self._store = store
        self._log = log
        self._recorder = recorder

    # Definitions --------------------------------------------------------

    async def create(
        self, access: Access, collection_id: str, spec: WorkflowSpec
    ) -> Workflow:
        collection = await self._store.collections.get(collection_id)
        collection, role = await access.require_collection(collection, Role.EDITOR)
        now = utc_now()
        workflow = Workflow(
            id=str(ObjectId()),
            collection_id=collection.id,
            project_id=collection.project_id,
            name="",
            description="",
            triggers=[],
            schedule=None,
            conditions=Conditions(),
            actions=[],
            permissions=[],
            enabled=True,
            next_run_at=None,
            created_at=now,
            updated_at=now,
            created_by=access.principal.subject,
        )
        workflow = self._merge(workflow, spec)
        self._require_owner_for_resources(role, workflow)

        event = collection_event(
            EventType.WORKFLOW_CREATED,
            access.principal.subject,
            collection,
            {"kind": "insert_workflow", "doc": workflow_to_doc(workflow)},
            changes=_definition_changes(None, workflow),
        )
        await self._log.execute([event])
        logger.info("Workflow created on collection %s", collection.id)
        return workflow

    def _merge(self, workflow: Workflow, spec: WorkflowSpec) -> Workflow:
        """Apply the given fields and check the result as a whole."""
        merged = replace(workflow)
        if spec.name is not UNCHANGED:
            merged.name = rules.check_name(_required(spec.name, "name"))
        if spec.description is not UNCHANGED:
            text = spec.description if spec.description is not None else ""
            merged.description = validation.description(text)
        if spec.triggers is not UNCHANGED:
            merged.triggers = list(_required(spec.triggers, "triggers"))
        if spec.schedule is not UNCHANGED:
            merged.schedule = spec.schedule
        if spec.conditions is not UNCHANGED:
            merged.conditions = spec.conditions or Conditions()
        if spec.actions is not UNCHANGED:
            merged.actions = list(_required(spec.actions, "actions"))
        if spec.permissions is not UNCHANGED:
            merged.permissions = validation.subjects(
                spec.permissions or [], "permissions"
            )
        if spec.enabled is not UNCHANGED:
            merged.enabled = bool(_required(spec.enabled, "enabled"))

        merged.triggers = rules.check_triggers(merged.triggers)
        merged.schedule = rules.check_schedule(merged.triggers, merged.schedule)
        merged.conditions = rules.check_conditions(merged.conditions)
        merged.actions = rules.check_actions(merged.actions)
        merged.next_run_at = (
            rules.next_tick(merged.schedule, utc_now())
            if merged.schedule is not None and merged.enabled
            else None
        )
        return merged

    def _require_owner_for_resources(self, role: Role, *workflows: Workflow) -> None:
        if role is not Role.OWNER and any(w.manages_resources for w in workflows):
            raise ForbiddenError(
                "Workflows that act on Vultr resources need the OWNER role."
            )

    async def _editable(
        self, access: Access, workflow_id: str
    ) -> tuple[Workflow, ServiceCollection, Role]:
        workflow = await self._store.workflows.get(workflow_id)
        collection = (
            await self._store.collections.get(workflow.collection_id)
            if workflow
            else None
        )
        if workflow is None or collection is None:
            raise NotFoundError("No such workflow.")
        try:
            collection, role = await access.require_collection(collection, Role.EDITOR)
        except NotFoundError:
            raise NotFoundError("No such workflow.") from None
        return workflow, collection, role

    async def update(
        self, access: Access, workflow_id: str, spec: WorkflowSpec
    ) -> Workflow:
        workflow, collection, role = await self._editable(access, workflow_id)
        updated = self._merge(workflow, spec)
        updated.updated_at = utc_now()
        self._require_owner_for_resources(role, workflow, updated)

        doc = workflow_to_doc(updated)
        fields = {k: v for k, v in doc.items() if k not in ("_id", "created_at")}
        fields.pop("version")
        operation = {
            "kind": "update_workflow",
            "workflow_id": object_id(workflow.id),
            "expect": {"version": workflow.version},
            "set": fields,
            "inc": {"version": 1},
            "conflict": "The workflow changed meanwhile; reload it and retry.",
        }
        event = collection_event(
            EventType.WORKFLOW_UPDATED,
            access.principal.subject,
            collection,
            operation,
            changes=_definition_changes(workflow, updated),
        )
        outcome = await self._log.execute([event])
        return workflow_from_doc(outcome.value["workflow"])

    async def delete(self, access: Access, workflow_id: str) -> Workflow:
        workflow, collection, role = await self._editable(access, workflow_id)
        self._require_owner_for_resources(role, workflow)
        event = collection_event(
            EventType.WORKFLOW_DELETED,
            access.principal.subject,
            collection,
            {"kind": "delete_workflow", "workflow_id": object_id(workflow.id)},
            changes=[FieldChange("name", workflow.name, None)],
        )
        await self._log.execute([event])
        return workflow

    async def get_readable(self, access: Access, workflow_id: str) -> Workflow | None:
        workflow = await self._store.workflows.get(workflow_id)
        if workflow is None:
            return None
        collection = await self._store.collections.get(workflow.collection_id)
        if collection is None or await access.collection_role(collection) is None:
            return None
        return workflow

    # Runs ---------------------------------------------------------------

    async def trigger(self, access: Access, workflow_id: str, run_input: Any) -> Run:
        workflow = await self._store.workflows.get(workflow_id)
        collection = (
            await self._store.collections.get(workflow.collection_id)
            if workflow
            else None
        )
        role = await access.collection_role(collection) if collection else None
        if workflow is None or collection is None or role is None:
            raise NotFoundError("No such workflow.")
        self._check_may_trigger(access.principal, role, workflow)
        if not workflow.enabled:
            raise BadUserInputError("The workflow is disabled; enable it first.")
        if WorkflowTrigger.MANUAL not in workflow.triggers:
            raise BadUserInputError("The workflow has no MANUAL trigger.")
        checked_input = validation.metadata(
            run_input if run_input is not None else {}, "input"
        )

        run = await self._recorder.create(
            workflow,
            _place(collection),
            WorkflowTrigger.MANUAL,
            actor=access.principal.subject,
            trigger_key="manual:" + str(ObjectId()),
            run_input=checked_input,
        )
        assert run is not None
        return run

    def _check_may_trigger(
        self, principal: Principal, role: Role, workflow: Workflow
    ) -> None:
        if role is Role.OWNER:
            return
        if workflow.permissions:
            if principal.identities.isdisjoint(workflow.permissions):
                raise ForbiddenError("This workflow names who may trigger it.")
            return
        if not role.at_least(Role.EDITOR):
            raise ForbiddenError("Triggering a workflow needs the EDITOR role.")

    async def get_run(self, access: Access, run_id: str) -> Run | None:
        run = await self._store.runs.get(run_id)
        if run is None or not await self._may_read_run(access, run):
            return None
        return run

    async def _may_read_run(self, access: Access, run: Run) -> bool:
        collection = await self._store.collections.get(run.collection_id)
        if collection is not None and await access.collection_role(collection):
            return True
        return _is_named(access.principal, _approvers(run))

    async def list_runs(
        self,
        access: Access,
        wanted: RunFilter,
        *,
        workflow_id: str | None = None,
        after: str | None,
        limit: int,
    ) -> list[Run]:
        query = await self._run_query(access, wanted, workflow_id)
        if wanted.awaiting_my_approval:
            return await self._decidable(access.principal, query, after, limit)
        return await self._store.runs.list(query, after, limit)

    async def count_runs(
        self, access: Access, wanted: RunFilter, *, workflow_id: str | None = None
    ) -> int:
        query = await self._run_query(access, wanted, workflow_id)
        if wanted.awaiting_my_approval:
            found = await self._decidable(access.principal, query, None, MAX_DECIDABLE)
            return len(found)
        return await self._store.runs.count(query)

    async def _decidable(
        self, principal: Principal, query: dict[str, Any], after: str | None, limit: int
    ) -> list[Run]:
        """Runs of ``query`` the principal may decide on now, up to ``limit``.

        The query finds runs naming the principal as an approver; whether it
        is the run's own actor or has already decided is only known per run,
        so pages are read until ``limit`` such runs are found, and pages and
        counts never include runs the principal cannot act on.
        """
        found: list[Run] = []
        while len(found) < limit:
            batch = await self._store.runs.list(query, after, DECIDABLE_BATCH)
            found.extend(run for run in batch if _may_decide(principal, run))
            if len(batch) < DECIDABLE_BATCH:
                break
            after = batch[-1].id
        return found[:limit]

    async def _run_query(
        self, access: Access, wanted: RunFilter, workflow_id: str | None
    ) -> dict[str, Any]:
        scope: dict[str, Any] = {}
        if not access.principal.is_admin:
            members = list(await access.project_roles())
            granted = [cid for cid, _pid in await access.granted()]
            scope = run_scope(members, granted, access.identities)
        query = run_query(
            collection_ids=[wanted.collection_id] if wanted.collection_id else None,
            workflow_id=workflow_id,
            statuses=wanted.statuses or None,
            approvers=access.identities if wanted.awaiting_my_approval else None,
        )
        return combine(scope, query)

    async def review(
        self, access: Access, run_id: str, verdict: Verdict, comment: str | None
    ) -> Run:
        validation.reason(comment, "comment")
        for _attempt in range(REVIEW_ATTEMPTS):
            run = await self.get_run(access, run_id)
            if run is None:
                raise NotFoundError("No such workflow run.")
            fields = self._decide(access.principal, run, verdict, comment)
            try:
                return await self._recorder.change(
                    run, fields, actor=access.principal.subject
                )
            except ConflictError:
                continue
        raise ConflictError("The run kept changing; retry.")

    def _decide(
        self, principal: Principal, run: Run, verdict: Verdict, comment: str | None
    ) -> dict[str, Any]:
        if run.status is not RunStatus.WAITING_FOR_APPROVAL:
            raise ConflictError(
                f"The run is {run.status.value}, not waiting for approval."
            )
        step = run.steps[run.current_step]
        action = step.action
        assert isinstance(action, ApprovalAction)
        if not _is_named(principal, list(action.approvers)):
            raise ForbiddenError("You are not an approver of this run.")
        if principal.subject == run.triggered_by and not action.allow_self_approval:
            raise ForbiddenError("The run's own actor may not approve it.")
        if any(d.approver == principal.subject for d in step.approvals):
            raise ConflictError("You have already decided on this run.")

        now = utc_now()
        step.approvals.append(Decision(principal.subject, verdict, comment, now))
        if verdict is Verdict.REJECTED:
            return finish_fields(run, RunStatus.REJECTED, StepStatus.REJECTED)
        approved = sum(1 for d in step.approvals if d.verdict is Verdict.APPROVED)
        if approved < action.required_approvals:
            return step_fields(step)
        step.status = StepStatus.SUCCEEDED
        step.finished_at = now
        fields = step_fields(step) | {
            "approvers": [],
            "approval_deadline": None,
        }
        if run.current_step + 1 >= len(run.steps):
            return fields | {"status": RunStatus.SUCCEEDED.value, "finished_at": now}
        return fields | {
            "status": RunStatus.RUNNING.value,
            "current_step": run.current_step + 1,
            "next_attempt_at": now,
        }

    async def cancel(self, access: Access, run_id: str, reason: str | None) -> Run:
        validation.reason(reason)
        for _attempt in range(REVIEW_ATTEMPTS):
            run = await self.get_run(access, run_id)
            if run is None:
                raise NotFoundError("No such workflow run.")
            collection = await self._store.collections.get(run.collection_id)
            role = await access.collection_role(collection) if collection else None
            if role is not Role.OWNER and access.principal.subject != run.triggered_by:
                raise ForbiddenError("Only owners and the run's actor may cancel it.")
            if run.status.is_final:
                raise ConflictError(f"The run is already {run.status.value}.")
            fields = finish_fields(run, RunStatus.CANCELLED, StepStatus.CANCELLED)
            if reason:
                fields[f"steps.{run.current_step}"]["error"] = "Cancelled: " + reason
            try:
                return await self._recorder.change(
                    run, fields, actor=access.principal.subject
                )
            except ConflictError:
                continue
        raise ConflictError("The run kept changing; retry.")


def _required(value: Any, name: str) -> Any:
    if value is None:
        raise BadUserInputError(f"{name} cannot be null.", field=name)
    return value


def _place(collection: ServiceCollection) -> RunPlace:
    return RunPlace(
        collection.project_id,
        collection.project,
        collection.environment,
        collection.id,
        collection.name,
    )


def _approvers(run: Run) -> list[str]:
    if run.status is not RunStatus.WAITING_FOR_APPROVAL:
        return []
    action = run.steps[run.current_step].action
    return list(action.approvers) if isinstance(action, ApprovalAction) else []


def _is_named(principal: Principal, subjects: list[str]) -> bool:
    """A subject is named directly or through one of its groups."""
    return not principal.identities.isdisjoint(subjects)


def _may_decide(principal: Principal, run: Run) -> bool:
    action = run.steps[run.current_step].action
    if not isinstance(action, ApprovalAction) or not _is_named(
        principal, list(action.approvers)
    ):
        return False
    if principal.subject == run.triggered_by and not action.allow_self_approval:
        return False
    decided = {d.approver for d in run.steps[run.current_step].approvals}
    return principal.subject not in decided


def _definition_changes(before: Workflow | None, after: Workflow) -> list[FieldChange]:
    def view(workflow: Workflow | None) -> dict[str, Any]:
        if workflow is None:
            return {}
        return {
            "name": workflow.name,
            "description": workflow.description,
            "triggers": [t.value for t in workflow.triggers],
            "schedule": {
                "cron": workflow.schedule.cron,
                "timezone": workflow.schedule.timezone,
            }
            if workflow.schedule
            else None,
            "conditions": conditions_to_doc(workflow.conditions),
            "actions": [redacted_action(a) for a in workflow.actions],
            "permissions": workflow.permissions,
            "enabled": workflow.enabled,
        }

    old, new = view(before), view(after)
    return [
        FieldChange(key, old.get(key), value)
        for key, value in new.items()
        if old.get(key) != value
    ]
