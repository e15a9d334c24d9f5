"""What starts a workflow run: events, conditions, the MANUAL trigger, schedules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gql_service.storage.events import event_from_doc
from gql_service.workflows.triggers import TriggerDispatcher
from tests.conftest import codes, data
from tests.receivers import Receiver
from tests.workflow_support import (
    ADD_RESOURCES,
    DEVELOPER,
    LEAD,
    REMOVE_RESOURCE,
    STAKEHOLDER,
    UPDATE_RESOURCE,
    UPDATE_WORKFLOW,
    WORKFLOW,
    Clock,
    Harness,
    add_instance,
    as_admin,
    create_workflow,
    promote,
    runs_of,
    trigger,
    triggered_run,
    webhook,
    workflow_input,
)


async def listening(
    h: Harness,
    collection_id: str,
    receiver: Receiver,
    *triggers: str,
    **fields: Any,
) -> dict[str, Any]:
    """A workflow on ``collection_id`` that posts to /hook when it runs."""
    given = workflow_input(
        collection_id,
        webhook(receiver.url + "/hook"),
        triggers=triggers,
        **fields,
    )
    return await create_workflow(h.gql, given)


async def new_collection(h: Harness, name: str) -> str:
    """A collection in the demo project's development stage, owned by LEAD."""
    given = {
        "name": name,
        "project": "ecommerce-platform",
        "environment": "development",
    }
    body = await h.gql(
        "mutation($input: CreateCollectionInput!) {"
        " createCollection(input: $input) { collection { id } } }",
        {"input": given},
        as_=LEAD,
    )
    collection_id: str = data(body)["createCollection"]["collection"]["id"]
    return collection_id


# Event triggers --------------------------------------------------------------


async def test_adding_a_resource_starts_a_resource_created_run(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_CREATED")

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    [run] = await runs_of(h.gql, workflow["id"])
    assert (run["trigger"], run["triggeredBy"]) == ("RESOURCE_CREATED", DEVELOPER)
    assert run["event"] == {"type": "RESOURCE_ADDED"}
    assert run["status"] == "SUCCEEDED"


async def test_resource_created_run_posts_the_event(h, ids, receiver):
    await listening(h, ids["development"], receiver, "RESOURCE_CREATED")

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    [call] = receiver.calls_to("/hook")
    assert call.body["event"]["type"] == "RESOURCE_ADDED"
    assert call.body["event"]["actor"] == DEVELOPER
    assert call.body["collection"]["environment"] == "development"
    assert call.body["run"]["trigger"] == "RESOURCE_CREATED"


async def test_bulk_add_starts_one_run_per_resource(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_CREATED")
    items = [{"resourceType": "INSTANCE", "resourceId": f"bulk-{n}"} for n in range(3)]

    body = await h.gql(
        ADD_RESOURCES,
        {"input": {"collectionId": ids["development"], "resources": items}},
        as_=DEVELOPER,
    )
    await h.settle()

    assert "errors" not in body
    assert len(await runs_of(h.gql, workflow["id"])) == 3


async def test_updating_a_resource_starts_a_resource_updated_run(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_UPDATED")
    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()
    given = {
        "collectionId": ids["development"],
        "resourceType": "INSTANCE",
        "resourceId": "new-web-1",
        "resourceName": "renamed",
    }

    data(await h.gql(UPDATE_RESOURCE, {"input": given}, as_=DEVELOPER))
    await h.settle()

    [run] = await runs_of(h.gql, workflow["id"])
    assert run["trigger"] == "RESOURCE_UPDATED"
    assert run["event"] == {"type": "RESOURCE_UPDATED"}


async def test_adding_a_resource_does_not_start_resource_updated(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_UPDATED")

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


async def test_removing_a_resource_starts_a_resource_deleted_run(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_DELETED")
    await add_instance(h.gql, ids["development"], "new-web-1")
    given = {
        "collectionId": ids["development"],
        "resourceType": "INSTANCE",
        "resourceId": "new-web-1",
    }

    data(await h.gql(REMOVE_RESOURCE, {"input": given}, as_=DEVELOPER))
    await h.settle()

    [run] = await runs_of(h.gql, workflow["id"])
    assert run["trigger"] == "RESOURCE_DELETED"
    assert run["event"] == {"type": "RESOURCE_REMOVED"}


async def test_promotion_starts_environment_promoted_on_the_target(h, ids, receiver):
    workflow = await listening(h, ids["production"], receiver, "ENVIRONMENT_PROMOTED")

    data(await promote(h.gql, ids["staging"]))
    await h.settle()

    [run] = await runs_of(h.gql, workflow["id"])
    assert (run["trigger"], run["triggeredBy"]) == ("ENVIRONMENT_PROMOTED", DEVELOPER)
    assert run["event"] == {"type": "ENVIRONMENT_PROMOTED"}
    assert run["collection"]["id"] == ids["production"]


async def test_promotion_does_not_start_environment_promoted_on_the_source(
    h, ids, receiver
):
    workflow = await listening(h, ids["staging"], receiver, "ENVIRONMENT_PROMOTED")

    data(await promote(h.gql, ids["staging"]))
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


async def test_promotion_starts_a_workflow_copied_into_a_new_target(h, ids, receiver):
    source = await new_collection(h, "api")
    await listening(h, source, receiver, "ENVIRONMENT_PROMOTED")

    data(await promote(h.gql, source, as_=LEAD, includeWorkflows=True))
    await h.settle()

    [call] = receiver.calls_to("/hook")
    assert call.body["collection"]["environment"] == "testing"
    assert call.body["collection"]["name"] == "api"
    assert call.body["run"]["trigger"] == "ENVIRONMENT_PROMOTED"


async def test_manual_trigger_starts_a_run_with_its_input(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "MANUAL")

    run = await triggered_run(h.gql, workflow["id"], run_input={"ticket": "OPS-1"})
    await h.settle()

    assert (run["status"], run["trigger"], run["triggeredBy"]) == (
        "QUEUED",
        "MANUAL",
        LEAD,
    )
    assert run["input"] == {"ticket": "OPS-1"}
    assert run["event"] is None
    [call] = receiver.calls_to("/hook")
    assert call.body["run"]["input"] == {"ticket": "OPS-1"}


async def test_manual_trigger_of_a_workflow_without_manual_is_refused(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_CREATED")

    body = await trigger(h.gql, workflow["id"])

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await runs_of(h.gql, workflow["id"]) == []


async def test_manual_workflow_ignores_events(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "MANUAL")

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


async def test_disabled_workflow_starts_nothing(h, ids, receiver):
    workflow = await listening(
        h, ids["development"], receiver, "RESOURCE_CREATED", enabled=False
    )

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []
    assert receiver.calls == []


async def test_workflow_disabled_by_update_starts_nothing(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_CREATED")
    data(
        await h.gql(
            UPDATE_WORKFLOW,
            {"input": {"id": workflow["id"], "enabled": False}},
            as_=LEAD,
        )
    )
    await h.settle()

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


async def test_workflow_created_after_an_event_is_not_started_by_it(h, ids, receiver):
    collection = await new_collection(h, "api")
    await add_instance(h.gql, collection, "earlier-web-1", as_=LEAD)

    workflow = await listening(h, collection, receiver, "RESOURCE_CREATED")
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


async def test_each_event_starts_each_matching_workflow_once(h, ids, receiver):
    first = await listening(h, ids["development"], receiver, "RESOURCE_CREATED")
    second = await listening(
        h, ids["development"], receiver, "RESOURCE_CREATED", "MANUAL", name="other"
    )
    unrelated = await listening(
        h, ids["development"], receiver, "RESOURCE_DELETED", name="unrelated"
    )

    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()

    assert len(await runs_of(h.gql, first["id"])) == 1
    assert len(await runs_of(h.gql, second["id"])) == 1
    assert await runs_of(h.gql, unrelated["id"]) == []


async def test_an_event_seen_by_a_second_process_starts_no_second_run(h, ids, receiver):
    workflow = await listening(h, ids["development"], receiver, "RESOURCE_CREATED")
    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()
    services = h.runtime.services
    other_process = TriggerDispatcher(services.store, services.recorder)

    for doc in await services.store.events.window(0, 500):
        if doc["state"] == "committed":
            await other_process.on_event(event_from_doc(doc))
    await h.settle()

    assert len(await runs_of(h.gql, workflow["id"])) == 1
    assert len(receiver.calls_to("/hook")) == 1


async def test_a_restart_below_the_stored_position_starts_nothing_old(h, ids, receiver):
    """Review: a tailer starting below a cursor that was never written hands
    the dispatcher events it had handled; a workflow enabled since then must
    not start runs for them."""
    workflow = await listening(
        h, ids["development"], receiver, "RESOURCE_CREATED", enabled=False
    )
    await add_instance(h.gql, ids["development"], "new-web-1")
    await h.settle()
    assert workflow["enabled"] is False
    assert await runs_of(h.gql, workflow["id"]) == []
    given = {"input": {"id": workflow["id"], "enabled": True}}
    data(await h.gql(UPDATE_WORKFLOW, given, as_=LEAD))
    await h.settle()
    services = h.runtime.services
    for flush in services.hub.flushes:  # what the tailer does after a batch
        await flush(services.hub.position)
    restarted = TriggerDispatcher(services.store, services.recorder)

    await restarted.catch_up(1)  # the tailer starts at cursor 1
    for doc in await services.store.events.window(1, 500):
        if doc["state"] == "committed":
            await restarted.on_event(event_from_doc(doc))
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


# Conditions --------------------------------------------------------------------


async def test_target_environment_condition_that_holds_starts_a_run(h, ids, receiver):
    workflow = await listening(
        h,
        ids["production"],
        receiver,
        "ENVIRONMENT_PROMOTED",
        conditions={"targetEnvironment": "production"},
    )

    data(await promote(h.gql, ids["staging"]))
    await h.settle()

    assert len(await runs_of(h.gql, workflow["id"])) == 1


async def test_target_environment_condition_that_fails_starts_nothing(h, ids, receiver):
    workflow = await listening(
        h,
        ids["production"],
        receiver,
        "ENVIRONMENT_PROMOTED",
        conditions={"targetEnvironment": "staging"},
    )

    data(await promote(h.gql, ids["staging"]))
    await h.settle()

    assert await runs_of(h.gql, workflow["id"]) == []


WEB_TAG = {"key": "role", "value": "web"}
# (conditions, what is added, runs started): each condition holding, then
# failing, then two conditions of which only one holds.
RESOURCE_CONDITIONS = [
    ({"environments": ["development", "testing"]}, {}, 1),
    ({"environments": ["production"]}, {}, 0),
    ({"resourceTypes": ["LOAD_BALANCER"]}, {"resource_type": "LOAD_BALANCER"}, 1),
    ({"resourceTypes": ["LOAD_BALANCER"]}, {}, 0),
    ({"tags": [WEB_TAG]}, {"tags": [WEB_TAG, {"key": "extra", "value": "x"}]}, 1),
    ({"tags": [WEB_TAG]}, {"tags": [{"key": "role", "value": "db"}]}, 0),
    (
        {"resourceTypes": ["INSTANCE"], "tags": [WEB_TAG]},
        {"resource_type": "LOAD_BALANCER", "tags": [WEB_TAG]},
        0,
    ),
]


@pytest.mark.parametrize(("conditions", "added", "runs"), RESOURCE_CONDITIONS)
async def test_resource_conditions_decide_whether_a_run_starts(
    h, ids, receiver, conditions, added, runs
):
    workflow = await listening(
        h, ids["development"], receiver, "RESOURCE_CREATED", conditions=conditions
    )

    await add_instance(h.gql, ids["development"], "new-1", **added)
    await h.settle()

    assert len(await runs_of(h.gql, workflow["id"])) == runs


# Schedules ---------------------------------------------------------------------


async def scheduled(
    h: Harness,
    collection_id: str,
    receiver: Receiver,
    cron: str = "*/5 * * * *",
    timezone: str = "Europe/Berlin",
    **fields: Any,
) -> dict[str, Any]:
    given = workflow_input(
        collection_id,
        webhook(receiver.url + "/hook"),
        triggers=("SCHEDULED",),
        schedule={"cron": cron, "timezone": timezone},
        **fields,
    )
    return await create_workflow(h.gql, given)


def next_run_of(workflow: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(workflow["nextRunAt"])


async def test_schedule_sets_next_run_at_on_the_cron_tick(h, ids, receiver):
    before = datetime.now(UTC)

    workflow = await scheduled(h, ids["development"], receiver)

    tick = next_run_of(workflow)
    assert before < tick <= before + timedelta(minutes=5)
    assert (tick.minute % 5, tick.second, tick.microsecond) == (0, 0, 0)
    assert workflow["schedule"] == {"cron": "*/5 * * * *", "timezone": "Europe/Berlin"}


async def test_schedule_is_read_in_its_time_zone(h, ids, receiver):
    workflow = await scheduled(
        h, ids["development"], receiver, cron="0 9 * * *", timezone="Asia/Kolkata"
    )

    tick = next_run_of(workflow)
    assert (tick.hour, tick.minute) == (3, 30)
    assert tick.utcoffset() == timedelta(0)


async def test_schedule_starts_nothing_before_its_tick(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver)
    runner = h.clocked_runner(Clock(next_run_of(workflow) - timedelta(seconds=1)))

    await h.settle(runner)

    assert await runs_of(h.gql, workflow["id"]) == []
    assert receiver.calls == []


async def test_schedule_starts_one_run_at_its_tick(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver)
    runner = h.clocked_runner(Clock(next_run_of(workflow) + timedelta(seconds=1)))

    await h.settle(runner)
    await h.settle(runner)

    [run] = await runs_of(h.gql, workflow["id"])
    assert (run["trigger"], run["triggeredBy"], run["status"]) == (
        "SCHEDULED",
        None,
        "SUCCEEDED",
    )
    assert run["event"] is None
    assert len(receiver.calls_to("/hook")) == 1


async def test_schedule_starts_one_run_per_tick(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver)
    first = next_run_of(workflow)
    clock = Clock(first + timedelta(seconds=1))
    runner = h.clocked_runner(clock)
    await h.settle(runner)

    clock.set(first + timedelta(minutes=5, seconds=1))
    await h.settle(runner)

    assert len(await runs_of(h.gql, workflow["id"])) == 2
    found = await as_admin(h.gql, WORKFLOW, {"id": workflow["id"]})
    assert next_run_of(found["workflow"]) == first + timedelta(minutes=10)


async def test_missed_ticks_are_made_up_by_one_run(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver)
    runner = h.clocked_runner(
        Clock(next_run_of(workflow) + timedelta(minutes=30, seconds=1))
    )

    await h.settle(runner)

    assert len(await runs_of(h.gql, workflow["id"])) == 1


async def test_two_runners_at_the_same_tick_start_one_run(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver)
    clock = Clock(next_run_of(workflow) + timedelta(seconds=1))
    first, second = h.clocked_runner(clock), h.clocked_runner(clock)

    await asyncio.gather(first.tick(), second.tick())
    await h.settle(first)

    assert len(await runs_of(h.gql, workflow["id"])) == 1


async def test_disabled_schedule_starts_nothing(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver, enabled=False)
    runner = h.clocked_runner(Clock(datetime.now(UTC) + timedelta(hours=1)))

    await h.settle(runner)

    assert workflow["nextRunAt"] is None
    assert await runs_of(h.gql, workflow["id"]) == []


async def test_schedule_run_is_visible_to_readers_only(h, ids, receiver):
    workflow = await scheduled(h, ids["development"], receiver)
    runner = h.clocked_runner(Clock(next_run_of(workflow) + timedelta(seconds=1)))
    await h.settle(runner)

    body = await h.gql("{ workflowRuns { totalCount } }", as_="outsider@company.com")
    mine = await h.gql("{ workflowRuns { totalCount } }", as_=STAKEHOLDER)

    assert data(body)["workflowRuns"]["totalCount"] == 0
    assert data(mine)["workflowRuns"]["totalCount"] == 1
