"""Workflows end to end against real servers: the seed's production deployment,
a restart in the middle of a run, and two service processes over one store.

Everything runs on 127.0.0.1: the service under uvicorn (tests.live_server)
and the recording receivers the workflow calls (tests.receivers).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from gql_service.demo import seed_demo
from gql_service.storage.database import Database
from tests.conftest import GraphQLClient, data
from tests.live_server import serve
from tests.receivers import Call, Receiver, Reply, recording_receiver
from tests.workflow_support import (
    ADD_RESOURCES,
    APPROVE,
    AWAITING_ME,
    DEVELOPER,
    DEVOPS,
    approval,
    create_workflow,
    deploy,
    eventually,
    health,
    promote,
    review,
    run_of,
    runs_of,
    slack,
    triggered_run,
    web_app_ids,
    webhook,
    workflow_input,
    workflow_settings,
)

FINAL = {"SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "TIMED_OUT"}


@contextlib.asynccontextmanager
async def client(address: str) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        yield GraphQLClient(http)


async def finished(gql: GraphQLClient, run_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = await run_of(gql, run_id)
        return run if run["status"] in FINAL else None

    run: dict[str, Any] = await eventually(check)
    return run


# The seed's Production Deployment ----------------------------------------------


def production_deployment(collection_id: str, url: str) -> dict[str, Any]:
    return workflow_input(
        collection_id,
        slack(url + "/slack", "Deploying web-app to production"),
        approval(DEVOPS, requiredApprovals=1),
        deploy(url + "/deploy", "BLUE_GREEN"),
        health(url + "/health", intervalSeconds=1, timeoutSeconds=10),
        slack(url + "/slack", "Deployed web-app to production"),
        name="Production Deployment",
        triggers=("ENVIRONMENT_PROMOTED",),
        conditions={"targetEnvironment": "production"},
    )


@dataclass
class Deployment:
    promotion: dict[str, Any]
    awaiting: dict[str, Any]
    waiting: dict[str, Any]
    before_approval: list[Call]
    run: dict[str, Any]
    calls: list[Call]
    # scheme://host:port of the receivers: how step outputs show their URLs.
    origin: str


async def deploy_to_production(database: Database) -> Deployment:
    """Promote staging to production as the developer; devops approves."""
    async with (
        recording_receiver() as receiver,
        serve(database, workflow_settings()) as (address, runtime),
        client(address) as gql,
    ):
        await seed_demo(runtime.services)
        ids = await web_app_ids(gql)
        await create_workflow(
            gql, production_deployment(ids["production"], receiver.url)
        )

        body = await promote(gql, ids["staging"], as_=DEVELOPER)

        async def awaiting_devops() -> dict[str, Any] | None:
            found: dict[str, Any] = data(await gql(AWAITING_ME, as_=DEVOPS))
            return found if found["workflowRuns"]["nodes"] else None

        awaiting = await eventually(awaiting_devops)
        run_id = awaiting["workflowRuns"]["nodes"][0]["id"]
        waiting = await run_of(gql, run_id)
        before_approval = list(receiver.calls)
        data(await review(gql, APPROVE, run_id, as_=DEVOPS, comment="go"))
        run = await finished(gql, run_id)
        return Deployment(
            promotion=data(body)["promoteCollection"]["promotion"],
            awaiting=awaiting["workflowRuns"],
            waiting=waiting,
            before_approval=before_approval,
            run=run,
            calls=list(receiver.calls),
            origin=receiver.origin,
        )


async def test_production_deployment_waits_for_devops(database):
    deployment = await deploy_to_production(database)

    assert deployment.promotion["status"] == "SUCCEEDED"
    assert deployment.awaiting["totalCount"] == 1
    waiting = deployment.waiting
    assert (waiting["status"], waiting["trigger"], waiting["triggeredBy"]) == (
        "WAITING_FOR_APPROVAL",
        "ENVIRONMENT_PROMOTED",
        DEVELOPER,
    )
    assert [step["status"] for step in waiting["steps"]] == [
        "SUCCEEDED",
        "WAITING_FOR_APPROVAL",
        "PENDING",
        "PENDING",
        "PENDING",
    ]


async def test_production_deployment_notifies_slack_before_the_approval(database):
    deployment = await deploy_to_production(database)

    [call] = deployment.before_approval
    assert (call.method, call.path) == ("POST", "/slack")
    assert call.body == {"text": "Deploying web-app to production"}


async def test_production_deployment_posts_the_deploy_hook(database):
    deployment = await deploy_to_production(database)

    [call] = [c for c in deployment.calls if c.path == "/deploy"]
    assert call.method == "POST"
    assert call.body["strategy"] == "BLUE_GREEN"
    assert call.body["collection"]["project"] == "ecommerce-platform"
    assert call.body["collection"]["environment"] == "production"
    assert call.body["collection"]["name"] == "web-app"
    assert sorted(r["resourceName"] for r in call.body["resources"]) == [
        "prod-web-1",
        "prod-web-2",
        "prod-web-3",
    ]
    assert call.key == call.body["run"]["id"] + ":2"


async def test_production_deployment_checks_health_and_reports(database):
    deployment = await deploy_to_production(database)

    assert [(c.method, c.path) for c in deployment.calls] == [
        ("POST", "/slack"),
        ("POST", "/deploy"),
        ("GET", "/health"),
        ("POST", "/slack"),
    ]
    assert deployment.calls[-1].body == {"text": "Deployed web-app to production"}


async def test_production_deployment_records_each_step(database):
    deployment = await deploy_to_production(database)

    run = deployment.run
    url = deployment.origin
    assert run["status"] == "SUCCEEDED"
    assert run["finishedAt"] is not None
    steps = run["steps"]
    assert [(s["status"], s["attempts"], s["error"]) for s in steps] == [
        ("SUCCEEDED", 1, None)
    ] * 5
    assert steps[0]["output"] == {
        "channel": "SLACK",
        "target": url,
        "status": 200,
        "attempts": 1,
    }
    assert steps[1]["approvals"] == [
        {"approver": DEVOPS, "verdict": "APPROVED", "comment": "go"}
    ]
    assert steps[2]["output"] == {
        "target": url,
        "status": 200,
        "attempts": 1,
        "strategy": "BLUE_GREEN",
    }
    assert steps[3]["output"] == {"target": url, "status": 200, "checks": 1}
    assert steps[4]["output"]["channel"] == "SLACK"


# Durability ----------------------------------------------------------------------


def three_steps(collection_id: str, receiver: Receiver) -> dict[str, Any]:
    return workflow_input(
        collection_id,
        webhook(receiver.url + "/before"),
        deploy(receiver.url + "/deploy"),
        webhook(receiver.url + "/after"),
        triggers=("RESOURCE_CREATED",),
    )


async def add_instances(gql: GraphQLClient, collection_id: str, count: int) -> None:
    items = [
        {"resourceType": "INSTANCE", "resourceId": f"web-{n}"} for n in range(count)
    ]
    given = {"collectionId": collection_id, "resources": items}
    data(await gql(ADD_RESOURCES, {"input": given}, as_=DEVELOPER))


async def test_restart_in_the_middle_of_a_run_finishes_it_once(database):
    settings = workflow_settings()
    async with recording_receiver() as receiver:
        # The first deploy call hangs long enough to stop the server under it.
        receiver.script("/deploy", Reply(delay=1.5))
        async with (
            serve(database, settings) as (address, runtime),
            client(address) as gql,
        ):
            await seed_demo(runtime.services)
            ids = await web_app_ids(gql)
            workflow = await create_workflow(
                gql, three_steps(ids["development"], receiver)
            )
            await add_instances(gql, ids["development"], 1)
            await receiver.wait_for("/deploy")

        async with (
            serve(database, settings) as (address, _runtime),
            client(address) as gql,
        ):
            [run] = await eventually(lambda: runs_of(gql, workflow["id"]))
            run = await finished(gql, run["id"])
            runs = await runs_of(gql, workflow["id"])

    assert run["status"] == "SUCCEEDED"
    assert len(runs) == 1
    assert len(receiver.calls_to("/before")) == 1
    assert len(receiver.calls_to("/after")) == 1
    deploys = receiver.calls_to("/deploy")
    assert len(deploys) == 2
    assert len({call.key for call in deploys}) == 1
    assert run["steps"][1]["attempts"] == 2


async def test_run_queued_without_a_runner_is_run_by_the_next_process(database):
    async with recording_receiver() as receiver:
        async with (
            serve(database, workflow_settings(run_workflows=False)) as (
                address,
                runtime,
            ),
            client(address) as gql,
        ):
            await seed_demo(runtime.services)
            ids = await web_app_ids(gql)
            workflow = await create_workflow(
                gql,
                workflow_input(ids["production"], webhook(receiver.url + "/hook")),
            )
            queued = await triggered_run(gql, workflow["id"])

        async with (
            serve(database, workflow_settings()) as (address, _runtime),
            client(address) as gql,
        ):
            run = await finished(gql, queued["id"])

    assert queued["status"] == "QUEUED"
    assert run["status"] == "SUCCEEDED"
    assert len(receiver.calls_to("/hook")) == 1


async def test_two_processes_run_each_step_once_and_never_at_once(database):
    settings = workflow_settings()
    async with (
        recording_receiver() as receiver,
        serve(database, settings) as (first, runtime),
        serve(database, settings) as (second, _other),
        client(first) as gql_first,
        client(second) as gql_second,
    ):
        for path in ("/before", "/deploy", "/after"):
            receiver.default(path, Reply(delay=0.1))
        await seed_demo(runtime.services)
        ids = await web_app_ids(gql_first)
        workflow = await create_workflow(
            gql_first, three_steps(ids["development"], receiver)
        )

        await add_instances(gql_second, ids["development"], 4)

        async def all_done() -> list[dict[str, Any]] | None:
            runs = await runs_of(gql_first, workflow["id"])
            done = len(runs) == 4 and all(r["status"] in FINAL for r in runs)
            return runs if done else None

        runs = await eventually(all_done)

    assert [run["status"] for run in runs] == ["SUCCEEDED"] * 4
    assert receiver.overlaps == 0
    assert len(receiver.calls) == 12
    assert set(Counter(call.key for call in receiver.calls).values()) == {1}
