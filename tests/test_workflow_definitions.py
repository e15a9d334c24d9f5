"""Workflow definitions: what is stored, who may change them, what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import codes, data
from tests.workflow_support import (
    APPROVE,
    AUDIT,
    COLLECTION_WORKFLOWS,
    CREATE_WORKFLOW,
    DELETE_WORKFLOW,
    DEVELOPER,
    DEVOPS,
    LEAD,
    RUN,
    STAKEHOLDER,
    STRANGER,
    UPDATE_WORKFLOW,
    WORKFLOW,
    Harness,
    approval,
    as_admin,
    create_workflow,
    deploy,
    health,
    manage,
    review,
    runs_of,
    slack,
    trigger,
    triggered_run,
    webhook,
    workflow_input,
)

HOST = "http://127.0.0.1:9"
SLACK_URL = HOST + "/services/T000/B000/XOXB-SECRET?token=abc"
DEPLOY_URL = HOST + "/hooks/deploy-SECRET"
HEALTH_URL = HOST + "/health?key=SECRET"
HOOK_URL = HOST + "/webhook/SECRET"


def secret_actions() -> list[dict[str, Any]]:
    # Behind an approval nobody gives, so these URLs are never called.
    return [
        approval(DEVOPS),
        slack(SLACK_URL, "hi"),
        deploy(DEPLOY_URL),
        health(HEALTH_URL),
        webhook(HOOK_URL),
    ]


def urls_of(workflow: dict[str, Any]) -> list[str | None]:
    found = []
    for action in workflow["actions"]:
        for key in ("target", "webhookUrl", "url"):
            if key in action:
                found.append(action[key])
    return found


async def workflow_as(h: Harness, workflow_id: str, subject: str) -> dict[str, Any]:
    found: dict[str, Any] = data(
        await h.gql(WORKFLOW, {"id": workflow_id}, as_=subject)
    )
    return found["workflow"]


async def workflows_on(h: Harness, collection_id: str) -> list[dict[str, Any]]:
    found = await as_admin(h.gql, COLLECTION_WORKFLOWS, {"id": collection_id})
    workflows: list[dict[str, Any]] = found["collection"]["workflows"]
    return workflows


async def workflow_events(h: Harness, collection_id: str) -> list[dict[str, Any]]:
    types = ["WORKFLOW_CREATED", "WORKFLOW_UPDATED", "WORKFLOW_DELETED"]
    found = await as_admin(
        h.gql, AUDIT, {"filter": {"collectionId": collection_id, "types": types}}
    )
    events: list[dict[str, Any]] = found["auditLog"]["nodes"]
    return events


# What is stored ----------------------------------------------------------------


async def test_created_workflow_reads_back_with_defaults(h, ids):
    given = workflow_input(
        ids["production"],
        approval(DEVOPS),
        deploy(HOST + "/deploy"),
        health(HOST + "/health"),
        slack(HOST + "/slack"),
        triggers=("ENVIRONMENT_PROMOTED", "MANUAL"),
        name="Production Deployment",
        conditions={"targetEnvironment": "production"},
    )

    created = await create_workflow(h.gql, given)

    assert created == await workflow_as(h, created["id"], LEAD)
    assert created["enabled"] is True
    assert created["permissions"] == []
    assert created["description"] == ""
    assert created["actions"] == [
        {
            "__typename": "ApprovalAction",
            "approvers": [DEVOPS],
            "requiredApprovals": 1,
            "timeoutSeconds": 86400,
            "allowSelfApproval": False,
        },
        {
            "__typename": "DeployAction",
            "strategy": "BLUE_GREEN",
            "webhookUrl": HOST + "/deploy",
            "timeoutSeconds": 600,
        },
        {
            "__typename": "HealthCheckAction",
            "url": HOST + "/health",
            "expectedStatus": 200,
            "timeoutSeconds": 300,
            "intervalSeconds": 5,
        },
        {
            "__typename": "NotificationAction",
            "channel": "SLACK",
            "target": HOST + "/slack",
            "message": None,
        },
    ]


async def test_conditions_read_back_as_given(h, ids):
    conditions = {
        "targetEnvironment": "production",
        "environments": ["staging", "production"],
        "resourceTypes": ["INSTANCE", "LOAD_BALANCER"],
        "tags": [{"key": "role", "value": "web"}],
    }

    created = await create_workflow(
        h.gql,
        workflow_input(ids["production"], slack(HOST), conditions=conditions),
    )

    assert created["conditions"] == conditions


async def test_update_changes_only_the_given_fields(h, ids):
    created = await create_workflow(
        h.gql,
        workflow_input(ids["production"], slack(HOST), description="first"),
    )

    body = await h.gql(
        UPDATE_WORKFLOW,
        {"input": {"id": created["id"], "name": "renamed"}},
        as_=DEVELOPER,
    )

    updated = data(body)["updateWorkflow"]["workflow"]
    assert updated == {**created, "name": "renamed"}


async def test_update_replaces_the_actions(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await h.gql(
        UPDATE_WORKFLOW,
        {"input": {"id": created["id"], "actions": [webhook(HOST + "/x")]}},
        as_=DEVELOPER,
    )

    [action] = data(body)["updateWorkflow"]["workflow"]["actions"]
    assert (action["channel"], action["target"]) == ("WEBHOOK", HOST + "/x")


async def test_delete_removes_the_workflow(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await h.gql(DELETE_WORKFLOW, {"input": {"id": created["id"]}}, as_=DEVELOPER)

    assert data(body)["deleteWorkflow"]["deletedId"] == created["id"]
    assert await workflows_on(h, ids["production"]) == []
    assert (await as_admin(h.gql, WORKFLOW, {"id": created["id"]}))["workflow"] is None


async def test_workflow_names_are_unique_per_collection(h, ids):
    await create_workflow(h.gql, workflow_input(ids["production"], slack(HOST)))

    body = await h.gql(
        CREATE_WORKFLOW,
        {"input": workflow_input(ids["production"], slack(HOST))},
        as_=LEAD,
    )

    assert codes(body) == ["CONFLICT"]
    assert len(await workflows_on(h, ids["production"])) == 1


# Who may change them -----------------------------------------------------------


async def create_as(h: Harness, subject: str, given: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = await h.gql(CREATE_WORKFLOW, {"input": given}, as_=subject)
    return body


async def test_editor_creates_a_workflow(h, ids):
    body = await create_as(h, DEVELOPER, workflow_input(ids["production"], slack(HOST)))

    assert data(body)["createWorkflow"]["workflow"]["name"] == "wf"


async def test_viewer_cannot_create_a_workflow(h, ids):
    body = await create_as(
        h, STAKEHOLDER, workflow_input(ids["production"], slack(HOST))
    )

    assert codes(body) == ["FORBIDDEN"]
    assert await workflows_on(h, ids["production"]) == []


async def test_stranger_cannot_find_the_collection(h, ids):
    body = await create_as(h, STRANGER, workflow_input(ids["production"], slack(HOST)))

    assert codes(body) == ["NOT_FOUND"]
    assert await workflows_on(h, ids["production"]) == []


async def test_editor_cannot_create_a_resource_management_workflow(h, ids):
    body = await create_as(
        h, DEVELOPER, workflow_input(ids["production"], manage("SNAPSHOT"))
    )

    assert codes(body) == ["FORBIDDEN"]
    assert await workflows_on(h, ids["production"]) == []


async def test_owner_creates_a_resource_management_workflow(h, ids):
    body = await create_as(
        h,
        LEAD,
        workflow_input(
            ids["production"],
            manage(
                "SNAPSHOT",
                resourceTypes=["INSTANCE"],
                tags=[{"key": "a", "value": "b"}],
            ),
        ),
    )

    [action] = data(body)["createWorkflow"]["workflow"]["actions"]
    assert action == {
        "__typename": "ResourceManagementAction",
        "operation": "SNAPSHOT",
        "resourceTypes": ["INSTANCE"],
        "tags": [{"key": "a", "value": "b"}],
    }


async def update_as(h: Harness, subject: str, given: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = await h.gql(UPDATE_WORKFLOW, {"input": given}, as_=subject)
    return body


async def test_editor_cannot_add_a_resource_management_action(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await update_as(
        h, DEVELOPER, {"id": created["id"], "actions": [manage("STOP")]}
    )

    assert codes(body) == ["FORBIDDEN"]
    assert await workflow_as(h, created["id"], LEAD) == created


async def test_editor_cannot_change_a_resource_management_workflow(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], manage("STOP"))
    )

    body = await update_as(h, DEVELOPER, {"id": created["id"], "name": "other"})

    assert codes(body) == ["FORBIDDEN"]
    assert await workflow_as(h, created["id"], LEAD) == created


async def test_editor_cannot_enable_a_resource_management_workflow(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], manage("STOP"), enabled=False)
    )

    body = await update_as(h, DEVELOPER, {"id": created["id"], "enabled": True})

    assert codes(body) == ["FORBIDDEN"]
    assert (await workflow_as(h, created["id"], LEAD))["enabled"] is False


async def test_owner_enables_a_resource_management_workflow(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], manage("STOP"), enabled=False)
    )

    body = await update_as(h, LEAD, {"id": created["id"], "enabled": True})

    assert data(body)["updateWorkflow"]["workflow"]["enabled"] is True


async def test_viewer_cannot_update_a_workflow(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await update_as(h, STAKEHOLDER, {"id": created["id"], "name": "x"})

    assert codes(body) == ["FORBIDDEN"]
    assert await workflow_as(h, created["id"], LEAD) == created


async def test_viewer_cannot_delete_a_workflow(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await h.gql(
        DELETE_WORKFLOW, {"input": {"id": created["id"]}}, as_=STAKEHOLDER
    )

    assert codes(body) == ["FORBIDDEN"]
    assert len(await workflows_on(h, ids["production"])) == 1


async def test_stranger_cannot_find_a_workflow_to_delete(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await h.gql(DELETE_WORKFLOW, {"input": {"id": created["id"]}}, as_=STRANGER)

    assert codes(body) == ["NOT_FOUND"]
    assert len(await workflows_on(h, ids["production"])) == 1


# Who may trigger them ----------------------------------------------------------


async def manual(h: Harness, collection_id: str, **fields: Any) -> str:
    created = await create_workflow(
        h.gql, workflow_input(collection_id, approval(DEVOPS), **fields)
    )
    workflow_id: str = created["id"]
    return workflow_id


async def test_editor_triggers_a_workflow_without_permissions(h, ids):
    workflow_id = await manual(h, ids["production"])

    run = await triggered_run(h.gql, workflow_id, as_=DEVELOPER)

    assert run["triggeredBy"] == DEVELOPER


async def test_viewer_cannot_trigger_a_workflow_without_permissions(h, ids):
    workflow_id = await manual(h, ids["production"])

    body = await trigger(h.gql, workflow_id, as_=STAKEHOLDER)

    assert codes(body) == ["FORBIDDEN"]
    assert await runs_of(h.gql, workflow_id) == []


async def test_named_viewer_triggers_a_workflow(h, ids):
    workflow_id = await manual(h, ids["production"], permissions=[STAKEHOLDER])

    run = await triggered_run(h.gql, workflow_id, as_=STAKEHOLDER)

    assert run["triggeredBy"] == STAKEHOLDER


async def test_named_group_member_triggers_a_workflow(h, ids):
    workflow_id = await manual(h, ids["production"], permissions=["group:release"])

    body = await trigger(h.gql, workflow_id, as_=STAKEHOLDER, groups=["release"])

    assert data(body)["triggerWorkflow"]["run"]["triggeredBy"] == STAKEHOLDER


async def test_editor_not_named_cannot_trigger(h, ids):
    workflow_id = await manual(h, ids["production"], permissions=[STAKEHOLDER])

    body = await trigger(h.gql, workflow_id, as_=DEVELOPER)

    assert codes(body) == ["FORBIDDEN"]
    assert await runs_of(h.gql, workflow_id) == []


async def test_owner_triggers_a_workflow_naming_others(h, ids):
    workflow_id = await manual(h, ids["production"], permissions=[STAKEHOLDER])

    run = await triggered_run(h.gql, workflow_id, as_=LEAD)

    assert run["triggeredBy"] == LEAD


async def test_named_subject_who_cannot_read_the_collection_cannot_trigger(h, ids):
    workflow_id = await manual(h, ids["production"], permissions=[STRANGER])

    body = await trigger(h.gql, workflow_id, as_=STRANGER)

    assert codes(body) == ["NOT_FOUND"]
    assert await runs_of(h.gql, workflow_id) == []


# URLs as each reader sees them -----------------------------------------------------


async def test_editor_sees_action_urls_whole(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], *secret_actions())
    )

    found = await workflow_as(h, created["id"], DEVELOPER)

    assert urls_of(found) == [SLACK_URL, DEPLOY_URL, HEALTH_URL, HOOK_URL]


async def test_viewer_sees_action_urls_as_scheme_and_host(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], *secret_actions())
    )

    found = await workflow_as(h, created["id"], STAKEHOLDER)

    assert urls_of(found) == [HOST] * 4


async def test_viewer_sees_collection_workflow_urls_as_scheme_and_host(h, ids):
    await create_workflow(h.gql, workflow_input(ids["production"], *secret_actions()))

    body = await h.gql(
        "query($id: ID!) { collection(id: $id) { workflows {"
        " actions { ... on DeployAction { webhookUrl } } } } }",
        {"id": ids["production"]},
        as_=DEVOPS,
    )

    [workflow] = data(body)["collection"]["workflows"]
    assert {"webhookUrl": HOST} in workflow["actions"]
    assert "SECRET" not in json.dumps(workflow)


async def test_viewer_sees_run_step_urls_as_scheme_and_host(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], *secret_actions())
    )
    run = await triggered_run(h.gql, created["id"])
    await h.settle()

    body = await h.gql(RUN, {"id": run["id"]}, as_=STAKEHOLDER)

    assert "SECRET" not in json.dumps(data(body))
    assert data(body)["workflowRun"]["steps"][2]["action"]["webhookUrl"] == HOST


async def test_approver_sees_run_step_urls_as_scheme_and_host(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], *secret_actions())
    )
    run = await triggered_run(h.gql, created["id"])
    await h.settle()

    body = await review(h.gql, APPROVE, run["id"], as_=DEVOPS)

    assert "SECRET" not in json.dumps(data(body))


async def test_audit_log_of_a_created_workflow_shows_no_url_path(h, ids):
    await create_workflow(h.gql, workflow_input(ids["production"], *secret_actions()))

    [event] = await workflow_events(h, ids["production"])

    text = json.dumps(event)
    assert event["type"] == "WORKFLOW_CREATED"
    assert "SECRET" not in text
    assert "/services/" not in text
    assert HOST in text


async def test_audit_log_of_an_updated_workflow_shows_no_url_path(h, ids):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    data(await update_as(h, LEAD, {"id": created["id"], "actions": secret_actions()}))

    events = await workflow_events(h, ids["production"])
    assert [event["type"] for event in events] == [
        "WORKFLOW_UPDATED",
        "WORKFLOW_CREATED",
    ]
    assert "SECRET" not in json.dumps(events)


# Bad input ---------------------------------------------------------------------


def base(collection_id: str, **fields: Any) -> dict[str, Any]:
    return workflow_input(collection_id, slack(HOST), **fields)


def with_action(collection_id: str, action: dict[str, Any]) -> dict[str, Any]:
    return workflow_input(collection_id, action)


def scheduled(collection_id: str, cron: str, timezone: str = "UTC") -> dict[str, Any]:
    return base(
        collection_id,
        triggers=("SCHEDULED",),
        schedule={"cron": cron, "timezone": timezone},
    )


BAD_INPUTS = {
    "no triggers": lambda c: base(c, triggers=()),
    "a trigger twice": lambda c: base(c, triggers=("MANUAL", "MANUAL")),
    "SCHEDULED without schedule": lambda c: base(c, triggers=("SCHEDULED",)),
    "schedule without SCHEDULED": lambda c: base(
        c, schedule={"cron": "* * * * *", "timezone": "UTC"}
    ),
    "cron minute 61": lambda c: scheduled(c, "61 * * * *"),
    "cron of four fields": lambda c: scheduled(c, "* * * *"),
    "cron of six fields": lambda c: scheduled(c, "* * * * * *"),
    "cron of words": lambda c: scheduled(c, "every five minutes"),
    "empty cron": lambda c: scheduled(c, ""),
    "unknown time zone": lambda c: scheduled(c, "*/5 * * * *", "Mars/Olympus"),
    "empty time zone": lambda c: scheduled(c, "*/5 * * * *", ""),
    "no actions": lambda c: workflow_input(c),
    "empty name": lambda c: base(c, name=""),
    "blank name": lambda c: base(c, name="   "),
    "long name": lambda c: base(c, name="n" * 101),
    "file: deploy URL": lambda c: with_action(c, deploy("file:///etc/passwd")),
    "ftp: deploy URL": lambda c: with_action(c, deploy("ftp://127.0.0.1/hook")),
    "file: slack URL": lambda c: with_action(c, slack("file:///etc/passwd")),
    "ftp: webhook URL": lambda c: with_action(c, webhook("ftp://127.0.0.1/x")),
    "gopher: health URL": lambda c: with_action(c, health("gopher://127.0.0.1/")),
    "URL without host": lambda c: with_action(c, deploy("http:///path")),
    "URL without scheme": lambda c: with_action(c, deploy("127.0.0.1/hook")),
    "not an e-mail": lambda c: with_action(
        c, {"notification": {"channel": "EMAIL", "target": "not-an-address"}}
    ),
    "long message": lambda c: with_action(c, slack(HOST, "m" * 4001)),
    "zero action fields": lambda c: with_action(c, {}),
    "two action fields": lambda c: with_action(
        c, {**slack(HOST), **deploy(HOST + "/deploy")}
    ),
    "no approvers": lambda c: with_action(c, approval()),
    "an approver twice": lambda c: with_action(c, approval(DEVOPS, DEVOPS)),
    "requiredApprovals 0": lambda c: with_action(
        c, approval(DEVOPS, requiredApprovals=0)
    ),
    "more required than approvers": lambda c: with_action(
        c, approval(DEVOPS, STAKEHOLDER, requiredApprovals=3)
    ),
    "approval timeout 59 s": lambda c: with_action(
        c, approval(DEVOPS, timeoutSeconds=59)
    ),
    "approval timeout over 30 days": lambda c: with_action(
        c, approval(DEVOPS, timeoutSeconds=30 * 86400 + 1)
    ),
    "deploy timeout 0": lambda c: with_action(c, deploy(HOST, timeoutSeconds=0)),
    "deploy timeout 3601": lambda c: with_action(c, deploy(HOST, timeoutSeconds=3601)),
    "health timeout 0": lambda c: with_action(c, health(HOST, timeoutSeconds=0)),
    "health timeout 3601": lambda c: with_action(c, health(HOST, timeoutSeconds=3601)),
    "health interval 0": lambda c: with_action(c, health(HOST, intervalSeconds=0)),
    "health interval over timeout": lambda c: with_action(
        c, health(HOST, timeoutSeconds=10, intervalSeconds=11)
    ),
    "expected status 99": lambda c: with_action(c, health(HOST, expectedStatus=99)),
    "expected status 600": lambda c: with_action(c, health(HOST, expectedStatus=600)),
    "unknown trigger": lambda c: base(c, triggers=("RESOURCE_EXPLODED",)),
    "bad environment condition": lambda c: base(
        c, conditions={"environments": ["Not An Env!"]}
    ),
    "bad permission subject": lambda c: base(c, permissions=[""]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
async def test_bad_create_input_is_refused_and_changes_nothing(h, ids, case):
    given = BAD_INPUTS[case](ids["production"])

    body = await create_as(h, LEAD, given)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await workflows_on(h, ids["production"]) == []
    assert await workflow_events(h, ids["production"]) == []


@pytest.mark.parametrize(
    "literal",
    [
        "{}",
        '{notification: {channel: SLACK}, deploy: {strategy: CANARY, webhookUrl: "x"}}',
    ],
)
async def test_bad_one_of_literal_is_bad_user_input(h, ids, literal):
    query = (
        "mutation($c: ID!) { createWorkflow(input: {collectionId: $c,"
        ' name: "wf", triggers: [MANUAL], actions: ['
        + literal
        + "]}) { workflow { id } } }"
    )

    body = await h.gql(query, {"c": ids["production"]}, as_=LEAD)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await workflows_on(h, ids["production"]) == []


BAD_UPDATES = {
    "no triggers": {"triggers": []},
    "bad cron": {"triggers": ["SCHEDULED"], "schedule": {"cron": "61 * * * *"}},
    "unknown time zone": {
        "triggers": ["SCHEDULED"],
        "schedule": {"cron": "*/5 * * * *", "timezone": "Nowhere/Void"},
    },
    "no actions": {"actions": []},
    "ftp: URL": {"actions": [deploy("ftp://127.0.0.1/hook")]},
    "zero action fields": {"actions": [{}]},
    "null name": {"name": None},
    "null triggers": {"triggers": None},
    "null enabled": {"enabled": None},
    "requiredApprovals over approvers": {
        "actions": [approval(DEVOPS, requiredApprovals=2)]
    },
}


@pytest.mark.parametrize("case", list(BAD_UPDATES))
async def test_bad_update_input_is_refused_and_changes_nothing(h, ids, case):
    created = await create_workflow(
        h.gql, workflow_input(ids["production"], slack(HOST))
    )

    body = await update_as(h, LEAD, {"id": created["id"], **BAD_UPDATES[case]})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await workflow_as(h, created["id"], LEAD) == created
    assert len(await workflow_events(h, ids["production"])) == 1


async def test_triggering_a_disabled_workflow_is_refused(h, ids):
    workflow_id = await manual(h, ids["production"], enabled=False)

    body = await trigger(h.gql, workflow_id, as_=LEAD)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await runs_of(h.gql, workflow_id) == []


async def test_trigger_input_that_is_not_an_object_is_refused(h, ids):
    workflow_id = await manual(h, ids["production"])

    body = await h.gql(
        "mutation($id: ID!) { triggerWorkflow(input: {id: $id, input: [1, 2]})"
        " { run { id } } }",
        {"id": workflow_id},
        as_=LEAD,
    )

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await runs_of(h.gql, workflow_id) == []


async def test_malformed_workflow_id_is_bad_user_input(h, ids):
    body = await trigger(h.gql, "not-an-id", as_=LEAD)

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_collection_id_as_a_workflow_id_is_bad_user_input(h, ids):
    body = await trigger(h.gql, ids["production"], as_=LEAD)

    assert codes(body) == ["BAD_USER_INPUT"]
