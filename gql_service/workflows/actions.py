"""What each kind of step does: notify, deploy, check health, act on Vultr."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gql_service.config import Settings
from gql_service.domain.models import ResourceReference, ServiceCollection, utc_now
from gql_service.domain.workflows import (
    DeployAction,
    HealthCheckAction,
    NotificationAction,
    NotificationChannel,
    ResourceManagementAction,
    ResourceOperation,
    Run,
)
from gql_service.errors import ServiceError
from gql_service.outbound.email import send_email
from gql_service.outbound.http import OutboundClient, OutboundError, redact_url

logger = logging.getLogger(__name__)


class StepFailedError(Exception):
    """The step did not do its job; the message is shown on the step."""


@dataclass(frozen=True, slots=True)
class StepContext:
    run: Run
    workflow_name: str
    collection: ServiceCollection
    resources: list[ResourceReference]
    event: dict[str, Any] | None

    @property
    def idempotency_key(self) -> str:
        # The same on every attempt of this step, in any process.
        return f"{self.run.id}:{self.run.current_step}"

    def summary(self) -> dict[str, Any]:
        collection = self.collection
        return {
            "collection": {
                "id": collection.id,
                "project": collection.project,
                "environment": collection.environment,
                "name": collection.name,
                "region": collection.region,
            },
            "run": {
                "id": self.run.id,
                "workflow": self.workflow_name,
                "trigger": self.run.trigger.value,
                "triggeredBy": self.run.triggered_by,
                "step": self.run.current_step,
                "input": self.run.input,
            },
            "event": self.event,
        }


class StepExecutor:
    def __init__(
        self,
        settings: Settings,
        outbound: OutboundClient,
        vultr: Any | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._outbound = outbound
        self._vultr = vultr
        self._sleep = sleep

    async def run(self, action: Any, context: StepContext) -> dict[str, Any]:
        """Do one step; return its output or raise StepFailedError."""
        try:
            if isinstance(action, NotificationAction):
                return await self._notify(action, context)
            if isinstance(action, DeployAction):
                return await self._deploy(action, context)
            if isinstance(action, HealthCheckAction):
                return await self._check_health(action)
            if isinstance(action, ResourceManagementAction):
                return await self._manage(action, context)
        except OutboundError as exc:
            raise StepFailedError(exc.message) from exc
        except ServiceError as exc:
            raise StepFailedError(exc.message) from exc
        raise StepFailedError("This step has nothing to do.")

    async def _notify(
        self, action: NotificationAction, context: StepContext
    ) -> dict[str, Any]:
        text = action.message or _default_message(context)
        if action.channel is NotificationChannel.EMAIL:
            to = action.target or self._settings.notify_default_email
            if not to:
                raise StepFailedError("No e-mail address and no default configured.")
            subject = "[service-collections] " + _default_message(context)
            await send_email(self._settings, to, subject, text)
            return {"channel": "EMAIL", "to": to}
        url = action.target or self._default_url(action.channel)
        if action.channel is NotificationChannel.SLACK:
            body: dict[str, Any] = {"text": text}
        else:
            body = {"message": text, **context.summary()}
        result = await self._outbound.post_json(
            url, body, idempotency_key=context.idempotency_key
        )
        return {
            "channel": action.channel.value,
            "target": redact_url(url),
            "status": result.status,
            "attempts": result.attempts,
        }

    def _default_url(self, channel: NotificationChannel) -> str:
        url = (
            self._settings.notify_default_slack_url
            if channel is NotificationChannel.SLACK
            else self._settings.notify_default_webhook_url
        )
        if not url:
            raise StepFailedError(
                f"No {channel.value.lower()} target and no default configured."
            )
        return url

    async def _deploy(
        self, action: DeployAction, context: StepContext
    ) -> dict[str, Any]:
        body = {
            **context.summary(),
            "strategy": action.strategy.value,
            "resources": [
                {
                    "resourceType": r.resource_type.value,
                    "resourceId": r.resource_id,
                    "resourceName": r.resource_name,
                    "tags": [{"key": t.key, "value": t.value} for t in r.tags],
                }
                for r in context.resources
            ],
        }
        result = await self._outbound.post_json(
            action.webhook_url,
            body,
            idempotency_key=context.idempotency_key,
            timeout=float(action.timeout_seconds),
        )
        return {
            "target": redact_url(action.webhook_url),
            "status": result.status,
            "attempts": result.attempts,
            "strategy": action.strategy.value,
        }

    async def _check_health(self, action: HealthCheckAction) -> dict[str, Any]:
        deadline = time.monotonic() + action.timeout_seconds
        checks = 0
        last: int | None = None
        while True:
            checks += 1
            try:
                result = await self._outbound.get(
                    action.url, timeout=min(10.0, float(action.timeout_seconds))
                )
                last = result.status
            except OutboundError as exc:
                # Nothing sent means the target itself was refused (a bad or
                # private URL): waiting will not change that.
                if exc.attempts == 0:
                    raise
                last = None
            if last == action.expected_status:
                return {
                    "target": redact_url(action.url),
                    "status": last,
                    "checks": checks,
                }
            if time.monotonic() + action.interval_seconds > deadline:
                raise StepFailedError(
                    f"{redact_url(action.url)} did not answer {action.expected_status} "
                    f"within {action.timeout_seconds} s (last: {last})."
                )
            await self._sleep(action.interval_seconds)

    async def _manage(
        self, action: ResourceManagementAction, context: StepContext
    ) -> dict[str, Any]:
        if self._vultr is None:
            raise StepFailedError(
                "Vultr is not configured: set GQL_SERVICE_VULTR_API_KEY."
            )
        chosen = [r for r in context.resources if _matches(action, r)]
        done: list[str] = []
        skipped: list[str] = []
        for resource in chosen:
            if resource.resource_type.value != "INSTANCE":
                skipped.append(resource.resource_id)
                continue
            await self._operate(action.operation, resource, context)
            done.append(resource.resource_id)
        # The cached lists no longer tell the truth about what we changed.
        self._vultr.invalidate()
        return {
            "operation": action.operation.value,
            "done": done,
            "skipped": skipped,
            "at": utc_now().isoformat(),
        }

    async def _operate(
        self,
        operation: ResourceOperation,
        resource: ResourceReference,
        context: StepContext,
    ) -> None:
        assert self._vultr is not None
        vultr = self._vultr.client
        instance = resource.resource_id
        if operation is ResourceOperation.START:
            await vultr.start_instance(instance)
        elif operation is ResourceOperation.STOP:
            await vultr.halt_instance(instance)
        elif operation is ResourceOperation.REBOOT:
            await vultr.reboot_instance(instance)
        else:
            await vultr.create_snapshot(
                instance, f"{context.workflow_name} run {context.run.id}"
            )


def _matches(action: ResourceManagementAction, resource: ResourceReference) -> bool:
    if action.resource_types and resource.resource_type not in action.resource_types:
        return False
    carried = {(t.key, t.value) for t in resource.tags}
    return all((t.key, t.value) in carried for t in action.tags or ())


def _default_message(context: StepContext) -> str:
    collection = context.collection
    return (
        f"{context.workflow_name}: {collection.project}/{collection.environment}/"
        f"{collection.name} ({context.run.trigger.value.lower()})"
    )
