"""Rules for workflow definitions: validation, schedules and trigger conditions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from gql_service.domain import validation
from gql_service.domain.workflows import (
    Action,
    ApprovalAction,
    Conditions,
    DeployAction,
    HealthCheckAction,
    NotificationAction,
    NotificationChannel,
    Schedule,
    WorkflowTrigger,
)
from gql_service.errors import BadUserInputError

MAX_NAME = 100
MAX_ACTIONS = 20
MAX_MESSAGE = 4000
APPROVAL_TIMEOUT = (60, 30 * 86400)
HTTP_TIMEOUT = (1, 3600)
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\Z")


def check_http_url(url: str, field: str) -> str:
    """http(s) with a host, nothing else; refused early so no step ever sees it."""
    validation.check_text(url, field, min_length=1, max_length=2000)
    match = re.match(r"(?i)(https?)://([^/?#@\s]+@)?([^/?#:\s]+|\[[0-9a-f:.]+\])", url)
    if match is None or any(c.isspace() for c in url):
        raise BadUserInputError(f"{field} must be an http or https URL.", field=field)
    return url


def check_name(name: str) -> str:
    validation.check_text(name, "name", min_length=1, max_length=MAX_NAME)
    if not name.strip():
        raise BadUserInputError("name must not be blank.", field="name")
    return name


def check_triggers(triggers: Sequence[WorkflowTrigger]) -> list[WorkflowTrigger]:
    if not triggers:
        raise BadUserInputError(
            "A workflow needs at least one trigger.", field="triggers"
        )
    if len(set(triggers)) != len(triggers):
        raise BadUserInputError("A trigger is listed twice.", field="triggers")
    return list(triggers)


def check_schedule(
    triggers: Sequence[WorkflowTrigger], schedule: Schedule | None
) -> Schedule | None:
    scheduled = WorkflowTrigger.SCHEDULED in triggers
    if scheduled and schedule is None:
        raise BadUserInputError("SCHEDULED needs a schedule.", field="schedule")
    if schedule is None:
        return None
    if not scheduled:
        raise BadUserInputError(
            "A schedule is given but SCHEDULED is not a trigger.", field="schedule"
        )
    zone = time_zone(schedule.timezone)
    validation.check_text(schedule.cron, "schedule.cron", min_length=1, max_length=200)
    if len(schedule.cron.split()) != 5:
        raise BadUserInputError(
            "schedule.cron must have five fields.", field="schedule.cron"
        )
    try:
        CronSim(schedule.cron, datetime.now(zone))
    except CronSimError as exc:
        raise BadUserInputError(
            f"schedule.cron is not valid: {exc}.", field="schedule.cron"
        ) from exc
    return schedule


def time_zone(name: str) -> ZoneInfo:
    validation.check_text(name, "schedule.timezone", min_length=1, max_length=64)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadUserInputError(
            f"{name!r} is not an IANA time zone.", field="schedule.timezone"
        ) from exc


def next_tick(schedule: Schedule, after: datetime) -> datetime:
    """The first cron time strictly after ``after``, in UTC."""
    zone = ZoneInfo(schedule.timezone)
    local = after.astimezone(zone).replace(second=0, microsecond=0)
    return next(CronSim(schedule.cron, local)).astimezone(UTC)


def check_actions(actions: Sequence[Action]) -> list[Action]:
    if not actions:
        raise BadUserInputError(
            "A workflow needs at least one action.", field="actions"
        )
    if len(actions) > MAX_ACTIONS:
        raise BadUserInputError(
            f"At most {MAX_ACTIONS} actions are allowed.", field="actions"
        )
    for index, action in enumerate(actions):
        _check_action(action, f"actions[{index}]")
    return list(actions)


def _check_action(action: Action, field: str) -> None:
    if isinstance(action, NotificationAction):
        _check_notification(action, field)
    elif isinstance(action, ApprovalAction):
        _check_approval(action, field)
    elif isinstance(action, DeployAction):
        check_http_url(action.webhook_url, f"{field}.deploy.webhookUrl")
        _check_bounds(action.timeout_seconds, HTTP_TIMEOUT, f"{field}.timeoutSeconds")
    elif isinstance(action, HealthCheckAction):
        check_http_url(action.url, f"{field}.healthCheck.url")
        _check_bounds(action.timeout_seconds, HTTP_TIMEOUT, f"{field}.timeoutSeconds")
        _check_bounds(
            action.interval_seconds,
            (1, action.timeout_seconds),
            f"{field}.intervalSeconds",
        )
        _check_bounds(action.expected_status, (100, 599), f"{field}.expectedStatus")


def _check_notification(action: NotificationAction, field: str) -> None:
    if action.message is not None:
        validation.check_text(
            action.message, f"{field}.message", max_length=MAX_MESSAGE
        )
    if action.target is None:
        return
    if action.channel is NotificationChannel.EMAIL:
        validation.check_text(action.target, f"{field}.target", max_length=320)
        if not EMAIL.match(action.target):
            raise BadUserInputError(
                f"{field}.target must be an e-mail address.", field=f"{field}.target"
            )
    else:
        check_http_url(action.target, f"{field}.target")


def _check_approval(action: ApprovalAction, field: str) -> None:
    approvers = validation.subjects(action.approvers, f"{field}.approvers")
    if not approvers:
        raise BadUserInputError(
            "An approval needs at least one approver.", field=f"{field}.approvers"
        )
    if len(set(approvers)) != len(approvers):
        raise BadUserInputError(
            "An approver is listed twice.", field=f"{field}.approvers"
        )
    _check_bounds(
        action.required_approvals, (1, len(approvers)), f"{field}.requiredApprovals"
    )
    _check_bounds(action.timeout_seconds, APPROVAL_TIMEOUT, f"{field}.timeoutSeconds")


def _check_bounds(value: int, bounds: tuple[int, int], field: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise BadUserInputError(
            f"{field} must be between {low} and {high}.", field=field
        )


def check_conditions(conditions: Conditions) -> Conditions:
    if conditions.target_environment is not None:
        validation.environment_name(
            conditions.target_environment, "conditions.targetEnvironment"
        )
    for environment in conditions.environments or ():
        validation.environment_name(environment, "conditions.environments")
    if conditions.tags:
        validation.tags([(t.key, t.value) for t in conditions.tags], "conditions.tags")
    return conditions


def conditions_hold(
    conditions: Conditions,
    event_type: str,
    environment: str | None,
    resource: dict[str, Any] | None,
) -> bool:
    """All given conditions hold for an event (see the README for the rules)."""
    if (
        conditions.environments is not None
        and environment not in conditions.environments
    ):
        return False
    if (
        conditions.target_environment is not None
        and event_type == "ENVIRONMENT_PROMOTED"
        and environment != conditions.target_environment
    ):
        return False
    if resource is None:
        return True
    if conditions.resource_types is not None and resource["resource_type"] not in {
        t.value for t in conditions.resource_types
    }:
        return False
    carried = {(tag["key"], tag["value"]) for tag in resource.get("tags", [])}
    return all((tag.key, tag.value) in carried for tag in conditions.tags or ())
