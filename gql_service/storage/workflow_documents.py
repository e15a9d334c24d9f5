"""Mapping workflows and runs to documents and back."""

from __future__ import annotations

import json
from typing import Any

from gql_service.domain.models import ResourceType
from gql_service.domain.workflows import (
    Action,
    ApprovalAction,
    Conditions,
    Decision,
    DeployAction,
    DeployStrategy,
    HealthCheckAction,
    NotificationAction,
    NotificationChannel,
    ResourceManagementAction,
    ResourceOperation,
    Run,
    RunStatus,
    Schedule,
    Step,
    StepStatus,
    Verdict,
    Workflow,
    WorkflowTrigger,
)
from gql_service.storage.documents import object_id, tags_from_doc, tags_to_doc, utc

Document = dict[str, Any]


def action_to_doc(action: Action) -> Document:
    if isinstance(action, NotificationAction):
        return {
            "kind": "notification",
            "channel": action.channel.value,
            "target": action.target,
            "message": action.message,
        }
    if isinstance(action, ApprovalAction):
        return {
            "kind": "approval",
            "approvers": list(action.approvers),
            "required_approvals": action.required_approvals,
            "timeout_seconds": action.timeout_seconds,
            "allow_self_approval": action.allow_self_approval,
        }
    if isinstance(action, DeployAction):
        return {
            "kind": "deploy",
            "strategy": action.strategy.value,
            "webhook_url": action.webhook_url,
            "timeout_seconds": action.timeout_seconds,
        }
    if isinstance(action, HealthCheckAction):
        return {
            "kind": "health_check",
            "url": action.url,
            "expected_status": action.expected_status,
            "timeout_seconds": action.timeout_seconds,
            "interval_seconds": action.interval_seconds,
        }
    return {
        "kind": "resource_management",
        "operation": action.operation.value,
        "resource_types": _types_to_doc(action.resource_types),
        "tags": tags_to_doc(list(action.tags)) if action.tags is not None else None,
    }


def action_from_doc(doc: Document) -> Action:
    kind = doc["kind"]
    if kind == "notification":
        return NotificationAction(
            NotificationChannel(doc["channel"]), doc.get("target"), doc.get("message")
        )
    if kind == "approval":
        return ApprovalAction(
            tuple(doc["approvers"]),
            doc["required_approvals"],
            doc["timeout_seconds"],
            doc["allow_self_approval"],
        )
    if kind == "deploy":
        return DeployAction(
            DeployStrategy(doc["strategy"]), doc["webhook_url"], doc["timeout_seconds"]
        )
    if kind == "health_check":
        return HealthCheckAction(
            doc["url"],
            doc["expected_status"],
            doc["timeout_seconds"],
            doc["interval_seconds"],
        )
    tags = doc.get("tags")
    return ResourceManagementAction(
        ResourceOperation(doc["operation"]),
        _types_from_doc(doc.get("resource_types")),
        tuple(tags_from_doc(tags)) if tags is not None else None,
    )


def _types_to_doc(types: tuple[ResourceType, ...] | None) -> list[str] | None:
    return [t.value for t in types] if types is not None else None


def _types_from_doc(values: list[str] | None) -> tuple[ResourceType, ...] | None:
    return tuple(ResourceType(v) for v in values) if values is not None else None


def conditions_to_doc(conditions: Conditions) -> Document:
    return {
        "target_environment": conditions.target_environment,
        "environments": list(conditions.environments)
        if conditions.environments is not None
        else None,
        "resource_types": _types_to_doc(conditions.resource_types),
        "tags": tags_to_doc(list(conditions.tags))
        if conditions.tags is not None
        else None,
    }


def conditions_from_doc(doc: Document) -> Conditions:
    tags = doc.get("tags")
    environments = doc.get("environments")
    return Conditions(
        target_environment=doc.get("target_environment"),
        environments=tuple(environments) if environments is not None else None,
        resource_types=_types_from_doc(doc.get("resource_types")),
        tags=tuple(tags_from_doc(tags)) if tags is not None else None,
    )


def workflow_to_doc(workflow: Workflow) -> Document:
    schedule = workflow.schedule
    return {
        "_id": object_id(workflow.id),
        "collection_id": object_id(workflow.collection_id),
        "project_id": object_id(workflow.project_id),
        "name": workflow.name,
        "description": workflow.description,
        "triggers": [t.value for t in workflow.triggers],
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone}
        if schedule
        else None,
        "conditions": conditions_to_doc(workflow.conditions),
        "actions": [action_to_doc(a) for a in workflow.actions],
        "permissions": workflow.permissions,
        "enabled": workflow.enabled,
        "next_run_at": workflow.next_run_at,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
        "created_by": workflow.created_by,
        "version": workflow.version,
    }


def workflow_from_doc(doc: Document) -> Workflow:
    schedule = doc.get("schedule")
    next_run = doc.get("next_run_at")
    return Workflow(
        id=str(doc["_id"]),
        collection_id=str(doc["collection_id"]),
        project_id=str(doc["project_id"]),
        name=doc["name"],
        description=doc["description"],
        triggers=[WorkflowTrigger(t) for t in doc["triggers"]],
        schedule=Schedule(schedule["cron"], schedule["timezone"]) if schedule else None,
        conditions=conditions_from_doc(doc["conditions"]),
        actions=[action_from_doc(a) for a in doc["actions"]],
        permissions=list(doc["permissions"]),
        enabled=doc["enabled"],
        next_run_at=utc(next_run) if next_run else None,
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
        created_by=doc.get("created_by"),
        version=doc.get("version", 1),
    )


def decision_to_doc(decision: Decision) -> Document:
    return {
        "approver": decision.approver,
        "verdict": decision.verdict.value,
        "comment": decision.comment,
        "decided_at": decision.decided_at,
    }


def decision_from_doc(doc: Document) -> Decision:
    return Decision(
        doc["approver"],
        Verdict(doc["verdict"]),
        doc.get("comment"),
        utc(doc["decided_at"]),
    )


def step_to_doc(step: Step) -> Document:
    return {
        "index": step.index,
        "action": action_to_doc(step.action),
        "status": step.status.value,
        "attempts": step.attempts,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        # JSON text: outputs come from remote systems and carry their keys.
        "output_json": json.dumps(step.output) if step.output is not None else None,
        "error": step.error,
        "approvals": [decision_to_doc(d) for d in step.approvals],
        "deadline": step.deadline,
    }


def step_from_doc(doc: Document) -> Step:
    output = doc.get("output_json")
    return Step(
        index=doc["index"],
        action=action_from_doc(doc["action"]),
        status=StepStatus(doc["status"]),
        attempts=doc["attempts"],
        started_at=_maybe_utc(doc.get("started_at")),
        finished_at=_maybe_utc(doc.get("finished_at")),
        output=json.loads(output) if output is not None else None,
        error=doc.get("error"),
        approvals=[decision_from_doc(d) for d in doc.get("approvals", [])],
        deadline=_maybe_utc(doc.get("deadline")),
    )


def _maybe_utc(value: Any) -> Any:
    return utc(value) if value is not None else None


def run_to_doc(run: Run, trigger_key: str) -> Document:
    return {
        "_id": object_id(run.id),
        "workflow_id": object_id(run.workflow_id),
        "collection_id": object_id(run.collection_id),
        "project_id": object_id(run.project_id),
        "trigger": run.trigger.value,
        "triggered_by": run.triggered_by,
        "event_seq": run.event_seq,
        "input_json": json.dumps(run.input),
        "status": run.status.value,
        "steps": [step_to_doc(s) for s in run.steps],
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "current_step": run.current_step,
        "next_attempt_at": run.next_attempt_at,
        "trigger_key": trigger_key,
        "lease_owner": None,
        "lease_until": None,
        "approvers": [],
    }


def run_from_doc(doc: Document) -> Run:
    return Run(
        id=str(doc["_id"]),
        workflow_id=str(doc["workflow_id"]),
        collection_id=str(doc["collection_id"]),
        project_id=str(doc["project_id"]),
        trigger=WorkflowTrigger(doc["trigger"]),
        triggered_by=doc.get("triggered_by"),
        event_seq=doc.get("event_seq"),
        input=json.loads(doc["input_json"]),
        status=RunStatus(doc["status"]),
        steps=[step_from_doc(s) for s in doc["steps"]],
        created_at=utc(doc["created_at"]),
        started_at=_maybe_utc(doc.get("started_at")),
        finished_at=_maybe_utc(doc.get("finished_at")),
        current_step=doc.get("current_step", 0),
        next_attempt_at=_maybe_utc(doc.get("next_attempt_at")),
        version=doc.get("version", 1),
    )
