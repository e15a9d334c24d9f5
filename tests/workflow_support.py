"""Shared pieces of the workflow tests: a driven runtime, the demo, operations.

A ``Harness`` is the service without its background tasks: the GraphQL API
over an in-process transport, with the event feed and the runner driven by
the test (``settle``), so every run moves exactly when the test says so.
Runners with a controllable clock come from ``Harness.runner``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.demo import seed_demo
from gql_service.domain.models import utc_now
from gql_service.events.hub import WINDOW
from gql_service.runtime import Runtime, build_runtime
from gql_service.storage.database import Database
from gql_service.workflows.actions import StepExecutor
from gql_service.workflows.runner import Runner
from gql_service.workflows.scheduler import Scheduler
from tests.conftest import SECRET, GraphQLClient, data

LEAD = "team-lead@company.com"
DEVELOPER = "developer@company.com"
STAKEHOLDER = "stakeholder@company.com"
DEVOPS = "devops@company.com"
STRANGER = "stranger@company.com"
ADMIN = "root@company.com"
PROJECT = "ecommerce-platform"

WAIT_SECONDS = 5.0
SETTLE_ROUNDS = 200


def workflow_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "outbound_allow_private": True,
        "event_poll_seconds": 0.05,
        "workflow_poll_seconds": 0.05,
    }
    return Settings(**{**values, **overrides})


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


class Harness:
    def __init__(self, runtime: Runtime, gql: GraphQLClient) -> None:
        self.runtime = runtime
        self.gql = gql

    @property
    def runner(self) -> Runner:
        assert self.runtime.runner is not None
        return self.runtime.runner

    def clocked_runner(self, clock: Callable[[], datetime]) -> Runner:
        """Another runner over the same store, with its own clock and owner."""
        services = self.runtime.services
        return Runner(
            services.store,
            services.recorder,
            StepExecutor(self.runtime.settings, self.runtime.outbound),
            Scheduler(services.store, services.recorder),
            lease_seconds=self.runtime.settings.workflow_lease_seconds,
            poll_seconds=0.05,
            clock=clock,
            expire_promotions=services.promotions.expire_due,
        )

    async def deliver(self) -> int:
        """Hand every committed event to the triggers; return how many were read."""
        hub = self.runtime.services.hub
        total = 0
        for _ in range(SETTLE_ROUNDS):
            read = await hub.poll()
            total += read
            if read < WINDOW:
                return total
        raise AssertionError("the event feed did not drain")

    async def settle(self, runner: Runner | None = None) -> None:
        """Deliver events and advance runs until nothing moves any more."""
        runner = runner or self.runner
        for _ in range(SETTLE_ROUNDS):
            read = await self.deliver()
            moved = await runner.tick()
            if not read and not moved:
                return
        raise AssertionError("workflow runs did not settle")


@contextlib.asynccontextmanager
async def harness(database: Database, **overrides: Any) -> AsyncIterator[Harness]:
    runtime = build_runtime(
        workflow_settings(**overrides),
        database=database,
        verifier=TokenVerifier(secret=SECRET),
    )
    await runtime.store.create_indexes()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        try:
            yield Harness(runtime, GraphQLClient(http))
        finally:
            await runtime.outbound.aclose()


async def eventually(
    check: Callable[[], Awaitable[Any]], seconds: float = WAIT_SECONDS
) -> Any:
    """Poll ``check`` until it returns something truthy (bounded)."""
    async with asyncio.timeout(seconds):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


# Operations ----------------------------------------------------------------

ACTION_FIELDS = """
fragment ActionFields on WorkflowAction {
  __typename
  ... on NotificationAction { channel target message }
  ... on ApprovalAction {
    approvers requiredApprovals timeoutSeconds allowSelfApproval }
  ... on DeployAction { strategy webhookUrl timeoutSeconds }
  ... on HealthCheckAction { url expectedStatus timeoutSeconds intervalSeconds }
  ... on ResourceManagementAction { operation resourceTypes tags { key value } }
}
"""

WORKFLOW_FIELDS = """
fragment WorkflowFields on WorkflowDefinition {
  id name description triggers enabled permissions nextRunAt
  schedule { cron timezone }
  conditions {
    targetEnvironment environments resourceTypes tags { key value } }
  actions { ...ActionFields }
}
"""

RUN_FIELDS = """
fragment RunFields on WorkflowRun {
  id status trigger triggeredBy input createdAt startedAt finishedAt
  workflow { id name } collection { id }
  event { type }
  steps {
    index status attempts output error startedAt finishedAt
    approvals { approver verdict comment }
    action { ...ActionFields }
  }
}
"""

CREATE_WORKFLOW = (
    """
mutation($input: CreateWorkflowInput!) {
  createWorkflow(input: $input) { workflow { ...WorkflowFields } } }
"""
    + WORKFLOW_FIELDS
    + ACTION_FIELDS
)

UPDATE_WORKFLOW = (
    """
mutation($input: UpdateWorkflowInput!) {
  updateWorkflow(input: $input) { workflow { ...WorkflowFields } } }
"""
    + WORKFLOW_FIELDS
    + ACTION_FIELDS
)

DELETE_WORKFLOW = """
mutation($input: DeleteWorkflowInput!) {
  deleteWorkflow(input: $input) { deletedId } }
"""

WORKFLOW = (
    """
query($id: ID!) { workflow(id: $id) { ...WorkflowFields } }
"""
    + WORKFLOW_FIELDS
    + ACTION_FIELDS
)

COLLECTION_WORKFLOWS = """
query($id: ID!) { collection(id: $id) { workflows { id name enabled } } }
"""

TRIGGER = (
    """
mutation($input: TriggerWorkflowInput!) {
  triggerWorkflow(input: $input) { run { ...RunFields } } }
"""
    + RUN_FIELDS
    + ACTION_FIELDS
)

APPROVE = (
    """
mutation($input: ReviewWorkflowRunInput!) {
  approveWorkflowRun(input: $input) { run { ...RunFields } } }
"""
    + RUN_FIELDS
    + ACTION_FIELDS
)

REJECT = (
    """
mutation($input: ReviewWorkflowRunInput!) {
  rejectWorkflowRun(input: $input) { run { ...RunFields } } }
"""
    + RUN_FIELDS
    + ACTION_FIELDS
)

CANCEL = (
    """
mutation($input: CancelWorkflowRunInput!) {
  cancelWorkflowRun(input: $input) { run { ...RunFields } } }
"""
    + RUN_FIELDS
    + ACTION_FIELDS
)

RUN = (
    """
query($id: ID!) { workflowRun(id: $id) { ...RunFields } }
"""
    + RUN_FIELDS
    + ACTION_FIELDS
)

WORKFLOW_RUNS = (
    """
query($id: ID!) { workflow(id: $id) {
  runs(first: 100) { totalCount nodes { ...RunFields } } } }
"""
    + RUN_FIELDS
    + ACTION_FIELDS
)

AWAITING_ME = """
{ workflowRuns(filter: {awaitingMyApproval: true}) {
  totalCount nodes { id status } } }
"""

BY_NAME = """
query($environment: String!) {
  collectionByName(project: "ecommerce-platform", environment: $environment,
    name: "web-app") { id description version } }
"""

PROMOTE = """
mutation($input: PromoteCollectionInput!) {
  promoteCollection(input: $input) { promotion {
    id status targetEnvironment target { id } } } }
"""

ADD_RESOURCE = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) { resource { id } } }
"""

ADD_RESOURCES = """
mutation($input: AddResourcesInput!) {
  addResourcesToCollection(input: $input) { results { status } } }
"""

UPDATE_RESOURCE = """
mutation($input: UpdateResourceInput!) {
  updateResource(input: $input) { resource { id } } }
"""

REMOVE_RESOURCE = """
mutation($input: RemoveResourceInput!) {
  removeResourceFromCollection(input: $input) { removed { id } } }
"""

UPDATE_COLLECTION = """
mutation($input: UpdateCollectionInput!) {
  updateCollection(input: $input) { collection { version } } }
"""

AUDIT = """
query($filter: EventFilter) { auditLog(filter: $filter, first: 100) {
  totalCount nodes { type actor changes { field before after } } } }
"""


# Inputs --------------------------------------------------------------------


def slack(url: str, message: str | None = None) -> dict[str, Any]:
    return {"notification": {"channel": "SLACK", "target": url, "message": message}}


def webhook(url: str, message: str | None = None) -> dict[str, Any]:
    return {"notification": {"channel": "WEBHOOK", "target": url, "message": message}}


def email(to: str | None, message: str | None = None) -> dict[str, Any]:
    return {"notification": {"channel": "EMAIL", "target": to, "message": message}}


def approval(*approvers: str, **fields: Any) -> dict[str, Any]:
    return {"approval": {"approvers": list(approvers), **fields}}


def deploy(url: str, strategy: str = "BLUE_GREEN", **fields: Any) -> dict[str, Any]:
    return {"deploy": {"strategy": strategy, "webhookUrl": url, **fields}}


def health(url: str, **fields: Any) -> dict[str, Any]:
    return {"healthCheck": {"url": url, **fields}}


def manage(operation: str = "REBOOT", **fields: Any) -> dict[str, Any]:
    return {"resourceManagement": {"operation": operation, **fields}}


def workflow_input(
    collection_id: str,
    *actions: dict[str, Any],
    triggers: tuple[str, ...] = ("MANUAL",),
    name: str = "wf",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "collectionId": collection_id,
        "name": name,
        "triggers": list(triggers),
        "actions": list(actions),
        **fields,
    }


# Calls ---------------------------------------------------------------------


async def as_admin(
    gql: GraphQLClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    return data(await gql(query, variables, as_=ADMIN, admin=True))


async def seed(h: Harness) -> dict[str, str]:
    """Load the demo and settle; return web-app's collection id per environment."""
    await seed_demo(h.runtime.services)
    await h.settle()
    return await web_app_ids(h.gql)


async def web_app_ids(gql: GraphQLClient) -> dict[str, str]:
    ids = {}
    for environment in ("development", "staging", "production"):
        found = await as_admin(gql, BY_NAME, {"environment": environment})
        ids[environment] = found["collectionByName"]["id"]
    return ids


async def create_workflow(
    gql: GraphQLClient, given: dict[str, Any], *, as_: str = LEAD
) -> dict[str, Any]:
    body = await gql(CREATE_WORKFLOW, {"input": given}, as_=as_)
    workflow: dict[str, Any] = data(body)["createWorkflow"]["workflow"]
    return workflow


async def trigger(
    gql: GraphQLClient,
    workflow_id: str,
    *,
    as_: str = LEAD,
    groups: list[str] | None = None,
    run_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    given: dict[str, Any] = {"id": workflow_id}
    if run_input is not None:
        given["input"] = run_input
    body: dict[str, Any] = await gql(TRIGGER, {"input": given}, as_=as_, groups=groups)
    return body


async def triggered_run(
    gql: GraphQLClient, workflow_id: str, *, as_: str = LEAD, **fields: Any
) -> dict[str, Any]:
    body = await trigger(gql, workflow_id, as_=as_, **fields)
    run: dict[str, Any] = data(body)["triggerWorkflow"]["run"]
    return run


async def review(
    gql: GraphQLClient,
    operation: str,
    run_id: str,
    *,
    as_: str,
    groups: list[str] | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    variables = {"input": {"id": run_id, "comment": comment}}
    body: dict[str, Any] = await gql(operation, variables, as_=as_, groups=groups)
    return body


async def run_of(gql: GraphQLClient, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = (await as_admin(gql, RUN, {"id": run_id}))["workflowRun"]
    return run


async def runs_of(gql: GraphQLClient, workflow_id: str) -> list[dict[str, Any]]:
    found = await as_admin(gql, WORKFLOW_RUNS, {"id": workflow_id})
    runs: list[dict[str, Any]] = found["workflow"]["runs"]["nodes"]
    return runs


async def promote(
    gql: GraphQLClient, source_id: str, *, as_: str = DEVELOPER, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = await gql(
        PROMOTE, {"input": {"id": source_id, **fields}}, as_=as_
    )
    return body


async def add_instance(
    gql: GraphQLClient,
    collection_id: str,
    resource_id: str,
    *,
    as_: str = DEVELOPER,
    resource_type: str = "INSTANCE",
    tags: list[dict[str, str]] | None = None,
) -> None:
    given = {
        "collectionId": collection_id,
        "resourceType": resource_type,
        "resourceId": resource_id,
        "tags": tags or [],
    }
    data(await gql(ADD_RESOURCE, {"input": given}, as_=as_))


def later(seconds: float) -> datetime:
    return utc_now() + timedelta(seconds=seconds)
