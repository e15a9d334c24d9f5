"""Runs: what each action does, retries, approvals, cancelling and leases."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter
from typing import Any

from gql_service.domain.models import utc_now
from gql_service.vultr.endpoints import VultrKind
from gql_service.vultr.fake import FAKE_API_KEY, FakeVultr, serve_fake
from gql_service.workflows.runner import Runner
from tests.conftest import codes, data
from tests.factories import add_resource, create_collection
from tests.receivers import Mailbox, Receiver, Reply, recording_receiver, smtp_server
from tests.workflow_support import (
    APPROVE,
    AUDIT,
    AWAITING_ME,
    CANCEL,
    DEVELOPER,
    DEVOPS,
    LEAD,
    REJECT,
    RUN,
    STAKEHOLDER,
    STRANGER,
    Clock,
    Harness,
    approval,
    as_admin,
    create_workflow,
    deploy,
    email,
    harness,
    health,
    later,
    manage,
    review,
    run_of,
    runs_of,
    seed,
    slack,
    triggered_run,
    webhook,
    workflow_input,
)

ALICE = "alice@company.com"
BOB = "bob@company.com"
RELEASE = "release@company.com"


async def started(
    h: Harness,
    collection_id: str,
    *actions: dict[str, Any],
    as_: str = LEAD,
    **fields: Any,
) -> dict[str, Any]:
    """Create a MANUAL workflow, trigger it as ``as_`` and settle; return the run."""
    workflow = await create_workflow(
        h.gql, workflow_input(collection_id, *actions, **fields)
    )
    run = await triggered_run(h.gql, workflow["id"], as_=as_)
    await h.settle()
    return await run_of(h.gql, run["id"])


def statuses(run: dict[str, Any]) -> list[str]:
    return [step["status"] for step in run["steps"]]


# Notifications -----------------------------------------------------------------


async def test_slack_notification_posts_a_text_body(h, ids, receiver):
    run = await started(
        h, ids["production"], slack(receiver.url + "/slack", "Deploying web-app")
    )

    [call] = receiver.calls_to("/slack")
    assert call.method == "POST"
    assert call.body == {"text": "Deploying web-app"}
    assert call.headers["content-type"] == "application/json"
    assert run["status"] == "SUCCEEDED"


async def test_slack_notification_without_a_message_says_what_ran(h, ids, receiver):
    await started(h, ids["production"], slack(receiver.url + "/slack"), name="Ship")

    [call] = receiver.calls_to("/slack")
    assert call.body == {"text": "Ship: ecommerce-platform/production/web-app (manual)"}


async def test_notification_step_records_its_output(h, ids, receiver):
    run = await started(h, ids["production"], slack(receiver.url + "/slack/T/B/X"))

    [step] = run["steps"]
    assert (step["status"], step["attempts"], step["error"]) == ("SUCCEEDED", 1, None)
    assert step["output"] == {
        "channel": "SLACK",
        "target": receiver.origin,
        "status": 200,
        "attempts": 1,
    }


async def test_webhook_notification_posts_the_event_and_collection(h, ids, receiver):
    await started(h, ids["production"], webhook(receiver.url + "/hook", "hello"))

    [call] = receiver.calls_to("/hook")
    assert call.body["message"] == "hello"
    assert call.body["collection"]["project"] == "ecommerce-platform"
    assert call.body["collection"]["environment"] == "production"
    assert call.body["collection"]["name"] == "web-app"
    assert call.body["run"]["trigger"] == "MANUAL"
    assert call.body["run"]["triggeredBy"] == LEAD
    assert call.body["event"] is None


async def test_notification_answered_4xx_fails_the_run_without_retry(h, ids, receiver):
    receiver.default("/hook", Reply(status=404))

    run = await started(
        h, ids["production"], webhook(receiver.url + "/hook"), slack(receiver.url)
    )

    assert run["status"] == "FAILED"
    assert statuses(run) == ["FAILED", "SKIPPED"]
    assert "HTTP 404" in run["steps"][0]["error"]
    assert len(receiver.calls_to("/hook")) == 1
    assert receiver.calls_to("/") == []


async def test_notification_that_keeps_failing_gives_up_after_its_attempts(
    h, ids, receiver
):
    receiver.default("/hook", Reply(status=500, headers={"Retry-After": "0"}))

    run = await started(h, ids["production"], webhook(receiver.url + "/hook"))

    assert run["status"] == "FAILED"
    assert "failed after 4 attempts (HTTP 500)" in run["steps"][0]["error"]
    assert len(receiver.calls_to("/hook")) == 4


async def test_email_notification_is_delivered(database):
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        async with harness(
            database, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False
        ) as h:
            ids = await seed(h)

            run = await started(
                h,
                ids["production"],
                email("ops@team.example", "Deployed."),
                name="Ship",
            )

    [(recipients, message)] = mailbox.messages
    assert recipients == ["ops@team.example"]
    # A long subject is folded onto the next line, which the parser keeps.
    assert message["Subject"].strip() == (
        "[service-collections] Ship: ecommerce-platform/production/web-app (manual)"
    )
    assert message.get_content().strip() == "Deployed."
    assert run["steps"][0]["output"] == {"channel": "EMAIL", "to": "ops@team.example"}


async def test_email_notification_without_smtp_fails_clearly(h, ids):
    run = await started(h, ids["production"], email("ops@team.example"))

    assert run["status"] == "FAILED"
    assert "SMTP is not configured" in run["steps"][0]["error"]


# Deploy and health check -----------------------------------------------------


async def test_deploy_posts_collection_resources_and_strategy(h, ids, receiver):
    run = await started(h, ids["production"], deploy(receiver.url + "/deploy"))

    [call] = receiver.calls_to("/deploy")
    assert call.body["strategy"] == "BLUE_GREEN"
    assert call.body["collection"]["environment"] == "production"
    assert sorted(r["resourceName"] for r in call.body["resources"]) == [
        "prod-web-1",
        "prod-web-2",
        "prod-web-3",
    ]
    assert run["steps"][0]["output"] == {
        "target": receiver.origin,
        "status": 200,
        "attempts": 1,
        "strategy": "BLUE_GREEN",
    }


async def test_deploy_answered_non_2xx_fails(h, ids, receiver):
    receiver.default("/deploy", Reply(status=409))

    run = await started(h, ids["production"], deploy(receiver.url + "/deploy"))

    assert run["status"] == "FAILED"
    assert statuses(run) == ["FAILED"]
    assert "HTTP 409" in run["steps"][0]["error"]
    assert len(receiver.calls_to("/deploy")) == 1


async def test_health_check_waits_for_the_expected_status(h, ids, receiver):
    receiver.script("/health", Reply(status=503))

    run = await started(
        h,
        ids["production"],
        health(receiver.url + "/health", intervalSeconds=1, timeoutSeconds=5),
    )

    assert run["status"] == "SUCCEEDED"
    assert run["steps"][0]["output"] == {
        "target": receiver.origin,
        "status": 200,
        "checks": 2,
    }
    assert [c.method for c in receiver.calls_to("/health")] == ["GET", "GET"]


async def test_health_check_that_never_passes_fails_at_its_timeout(h, ids, receiver):
    receiver.default("/health", Reply(status=503))
    began = time.monotonic()

    run = await started(
        h,
        ids["production"],
        health(receiver.url + "/health", intervalSeconds=1, timeoutSeconds=2),
    )

    assert time.monotonic() - began < 4
    assert run["status"] == "FAILED"
    assert "did not answer 200 within 2 s" in run["steps"][0]["error"]
    assert len(receiver.calls_to("/health")) >= 2


async def test_resource_management_without_vultr_fails_clearly(h, ids):
    run = await started(h, ids["production"], manage("REBOOT"))

    assert run["status"] == "FAILED"
    assert statuses(run) == ["FAILED"]
    assert "Vultr is not configured" in run["steps"][0]["error"]


async def test_resource_management_acts_on_the_matching_instances(database):
    fake = FakeVultr()
    web, other = fake.add_instances(2)
    before = other["power_status"]
    settings = {"vultr_api_key": FAKE_API_KEY, "vultr_max_retries": 0}
    async with (
        serve_fake(fake) as url,
        harness(database, vultr_api_url=url, **settings) as h,
    ):
        collection = (await create_collection(h.gql))["id"]
        role = [{"key": "role", "value": "web"}]
        await add_resource(h.gql, collection, web["id"], tags=role)
        await add_resource(h.gql, collection, other["id"])
        workflow = await create_workflow(
            h.gql,
            workflow_input(collection, manage("STOP", tags=role)),
            as_="owner@example.com",
        )

        run = await triggered_run(h.gql, workflow["id"], as_="owner@example.com")
        await h.settle()
        final = await run_of(h.gql, run["id"])

    assert final["status"] == "SUCCEEDED"
    assert final["steps"][0]["output"]["done"] == [web["id"]]
    assert fake.find(VultrKind.INSTANCES, web["id"])["power_status"] == "stopped"
    assert fake.find(VultrKind.INSTANCES, other["id"])["power_status"] == before


# Outbound rules ----------------------------------------------------------------


async def test_calls_are_signed_when_a_secret_is_configured(database):
    secret = "webhook-secret-" + "s" * 32
    async with (
        recording_receiver() as receiver,
        harness(database, webhook_secret=secret) as h,
    ):
        ids = await seed(h)

        await started(h, ids["production"], webhook(receiver.url + "/hook"))

    [call] = receiver.calls_to("/hook")
    stamp, signature = (
        part.split("=", 1)[1] for part in call.headers["x-signature"].split(",")
    )
    signed = stamp.encode() + b"." + call.raw
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)


async def test_redirects_are_not_followed(h, ids, receiver):
    receiver.default(
        "/deploy", Reply(status=307, headers={"Location": receiver.url + "/moved"})
    )

    run = await started(h, ids["production"], deploy(receiver.url + "/deploy"))

    assert run["status"] == "FAILED"
    assert "HTTP 307" in run["steps"][0]["error"]
    assert receiver.calls_to("/moved") == []


async def test_loopback_receiver_is_refused_without_permission(database):
    async with (
        recording_receiver() as receiver,
        harness(database, outbound_allow_private=False) as h,
    ):
        ids = await seed(h)

        run = await started(h, ids["production"], webhook(receiver.url + "/hook"))

    assert run["status"] == "FAILED"
    assert "refused to call" in run["steps"][0]["error"]
    assert receiver.calls == []


# Retries -----------------------------------------------------------------------


async def test_failing_receiver_gets_three_calls_with_one_key(h, ids, receiver):
    receiver.script("/hook", Reply(status=500), Reply(status=500))

    run = await started(h, ids["production"], webhook(receiver.url + "/hook"))

    calls = receiver.calls_to("/hook")
    assert len(calls) == 3
    assert len({call.key for call in calls}) == 1
    assert calls[0].key
    assert run["status"] == "SUCCEEDED"
    assert run["steps"][0]["output"]["attempts"] == 3


async def test_retry_after_is_honoured(h, ids, receiver):
    receiver.script("/hook", Reply(status=503, headers={"Retry-After": "1"}))

    run = await started(h, ids["production"], webhook(receiver.url + "/hook"))

    first, second = receiver.calls_to("/hook")
    assert second.started - first.started >= 0.9
    assert run["status"] == "SUCCEEDED"


async def test_each_step_has_its_own_idempotency_key(h, ids, receiver):
    await started(
        h,
        ids["production"],
        webhook(receiver.url + "/hook"),
        deploy(receiver.url + "/deploy"),
    )

    [hook] = receiver.calls_to("/hook")
    [hook_deploy] = receiver.calls_to("/deploy")
    assert hook.key != hook_deploy.key


async def test_every_run_change_is_an_event(h, ids, receiver):
    run = await started(h, ids["production"], webhook(receiver.url + "/hook"))

    found = await as_admin(
        h.gql,
        AUDIT,
        {
            "filter": {
                "collectionId": ids["production"],
                "types": ["WORKFLOW_RUN_UPDATED"],
            }
        },
    )
    changes = [
        (c["before"], c["after"])
        for event in found["auditLog"]["nodes"]
        for c in event["changes"]
        if c["field"] == "status"
    ]
    assert run["status"] == "SUCCEEDED"
    assert set(changes) == {
        (None, "QUEUED"),
        ("QUEUED", "RUNNING"),
        ("RUNNING", "SUCCEEDED"),
    }


# Approvals ---------------------------------------------------------------------


async def waiting_run(
    h: Harness,
    receiver: Receiver,
    collection_id: str,
    *approvers: str,
    as_: str = LEAD,
    name: str = "wf",
    **fields: Any,
) -> dict[str, Any]:
    """A run held at an approval, with a webhook to /after behind it."""
    run = await started(
        h,
        collection_id,
        approval(*approvers, **fields),
        webhook(receiver.url + "/after"),
        as_=as_,
        name=name,
    )
    assert run["status"] == "WAITING_FOR_APPROVAL"
    return run


async def test_run_waits_at_an_approval(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    assert statuses(run) == ["WAITING_FOR_APPROVAL", "PENDING"]
    assert receiver.calls == []


async def test_approval_lets_the_run_continue(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    body = await review(h.gql, APPROVE, run["id"], as_=DEVOPS, comment="ok")
    await h.settle()

    decided = data(body)["approveWorkflowRun"]["run"]
    assert decided["steps"][0]["approvals"] == [
        {"approver": DEVOPS, "verdict": "APPROVED", "comment": "ok"}
    ]
    final = await run_of(h.gql, run["id"])
    assert final["status"] == "SUCCEEDED"
    assert statuses(final) == ["SUCCEEDED", "SUCCEEDED"]
    assert len(receiver.calls_to("/after")) == 1


async def test_required_approvals_wait_for_enough_approvers(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVOPS, STAKEHOLDER, requiredApprovals=2
    )

    data(await review(h.gql, APPROVE, run["id"], as_=DEVOPS))
    await h.settle()

    held = await run_of(h.gql, run["id"])
    assert held["status"] == "WAITING_FOR_APPROVAL"
    assert receiver.calls == []


async def test_required_approvals_from_distinct_approvers_continue(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVOPS, STAKEHOLDER, requiredApprovals=2
    )
    data(await review(h.gql, APPROVE, run["id"], as_=DEVOPS))

    data(await review(h.gql, APPROVE, run["id"], as_=STAKEHOLDER))
    await h.settle()

    assert (await run_of(h.gql, run["id"]))["status"] == "SUCCEEDED"
    assert len(receiver.calls_to("/after")) == 1


async def test_approving_twice_is_conflict(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVOPS, STAKEHOLDER, requiredApprovals=2
    )
    data(await review(h.gql, APPROVE, run["id"], as_=DEVOPS))

    body = await review(h.gql, APPROVE, run["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]
    held = await run_of(h.gql, run["id"])
    assert len(held["steps"][0]["approvals"]) == 1
    assert held["status"] == "WAITING_FOR_APPROVAL"


async def test_actor_may_not_approve_their_own_run(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVELOPER, DEVOPS, as_=DEVELOPER
    )

    body = await review(h.gql, APPROVE, run["id"], as_=DEVELOPER)

    assert codes(body) == ["FORBIDDEN"]
    held = await run_of(h.gql, run["id"])
    assert (held["status"], held["steps"][0]["approvals"]) == (
        "WAITING_FOR_APPROVAL",
        [],
    )


async def test_actor_may_approve_when_self_approval_is_allowed(h, ids, receiver):
    run = await waiting_run(
        h,
        receiver,
        ids["production"],
        DEVELOPER,
        as_=DEVELOPER,
        allowSelfApproval=True,
    )

    data(await review(h.gql, APPROVE, run["id"], as_=DEVELOPER))
    await h.settle()

    assert (await run_of(h.gql, run["id"]))["status"] == "SUCCEEDED"


async def test_non_approver_is_refused(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    body = await review(h.gql, APPROVE, run["id"], as_=STAKEHOLDER)

    assert codes(body) == ["FORBIDDEN"]
    assert (await run_of(h.gql, run["id"]))["steps"][0]["approvals"] == []


async def test_stranger_cannot_see_the_run_to_approve_it(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    body = await review(h.gql, APPROVE, run["id"], as_=STRANGER)

    assert codes(body) == ["NOT_FOUND"]


async def test_group_approver_matches_its_members(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], "group:sre")

    data(await review(h.gql, APPROVE, run["id"], as_=ALICE, groups=["sre"]))
    await h.settle()

    final = await run_of(h.gql, run["id"])
    assert final["status"] == "SUCCEEDED"
    assert final["steps"][0]["approvals"][0]["approver"] == ALICE


async def test_group_approver_does_not_match_others(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], "group:sre")

    body = await review(h.gql, APPROVE, run["id"], as_=ALICE, groups=["dba"])

    assert codes(body) in (["FORBIDDEN"], ["NOT_FOUND"])


async def test_group_counts_each_member_once(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], "group:sre", DEVOPS, requiredApprovals=2
    )
    data(await review(h.gql, APPROVE, run["id"], as_=ALICE, groups=["sre"]))

    body = await review(h.gql, APPROVE, run["id"], as_=ALICE, groups=["sre"])

    assert codes(body) == ["CONFLICT"]
    assert (await run_of(h.gql, run["id"]))["status"] == "WAITING_FOR_APPROVAL"


async def test_member_named_directly_and_by_group_counts_once(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], ALICE, "group:sre", requiredApprovals=2
    )

    data(await review(h.gql, APPROVE, run["id"], as_=ALICE, groups=["sre"]))
    await h.settle()

    held = await run_of(h.gql, run["id"])
    assert held["status"] == "WAITING_FOR_APPROVAL"
    assert len(held["steps"][0]["approvals"]) == 1


async def test_two_group_members_make_two_approvals(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], "group:sre", DEVOPS, requiredApprovals=2
    )
    data(await review(h.gql, APPROVE, run["id"], as_=ALICE, groups=["sre"]))

    data(await review(h.gql, APPROVE, run["id"], as_=BOB, groups=["sre"]))
    await h.settle()

    assert (await run_of(h.gql, run["id"]))["status"] == "SUCCEEDED"


async def test_approving_a_finished_run_is_conflict(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS, STAKEHOLDER)
    data(await review(h.gql, APPROVE, run["id"], as_=DEVOPS))
    await h.settle()

    body = await review(h.gql, APPROVE, run["id"], as_=STAKEHOLDER)

    assert codes(body) == ["CONFLICT"]
    assert len((await run_of(h.gql, run["id"]))["steps"][0]["approvals"]) == 1


async def test_rejection_ends_the_run_rejected(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    body = await review(h.gql, REJECT, run["id"], as_=DEVOPS, comment="not now")
    await h.settle()

    assert data(body)["rejectWorkflowRun"]["run"]["status"] == "REJECTED"
    final = await run_of(h.gql, run["id"])
    assert final["status"] == "REJECTED"
    assert statuses(final) == ["REJECTED", "SKIPPED"]
    assert final["steps"][0]["approvals"][0]["verdict"] == "REJECTED"
    assert final["finishedAt"] is not None
    assert receiver.calls == []


async def test_one_rejection_ends_a_run_needing_several_approvals(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVOPS, STAKEHOLDER, requiredApprovals=2
    )
    data(await review(h.gql, APPROVE, run["id"], as_=DEVOPS))

    data(await review(h.gql, REJECT, run["id"], as_=STAKEHOLDER))
    await h.settle()

    assert (await run_of(h.gql, run["id"]))["status"] == "REJECTED"


async def test_approving_a_rejected_run_is_conflict(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVOPS, STAKEHOLDER, requiredApprovals=2
    )
    data(await review(h.gql, REJECT, run["id"], as_=STAKEHOLDER))

    body = await review(h.gql, APPROVE, run["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]


async def test_approval_times_out(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS, timeoutSeconds=60)

    await h.settle(h.clocked_runner(Clock(later(61))))

    final = await run_of(h.gql, run["id"])
    assert final["status"] == "TIMED_OUT"
    assert statuses(final) == ["TIMED_OUT", "SKIPPED"]
    assert receiver.calls == []


async def test_approval_does_not_time_out_before_its_deadline(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS, timeoutSeconds=60)

    await h.settle(h.clocked_runner(Clock(later(30))))

    assert (await run_of(h.gql, run["id"]))["status"] == "WAITING_FOR_APPROVAL"


async def test_approving_a_timed_out_run_is_conflict(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS, timeoutSeconds=60)
    await h.settle(h.clocked_runner(Clock(later(61))))

    body = await review(h.gql, APPROVE, run["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]


# Finding work ------------------------------------------------------------------


async def awaiting(h: Harness, subject: str, **token: Any) -> dict[str, Any]:
    found: dict[str, Any] = data(await h.gql(AWAITING_ME, as_=subject, **token))
    return found["workflowRuns"]


async def test_awaiting_my_approval_lists_the_run_for_an_approver(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    found = await awaiting(h, DEVOPS)

    assert found == {
        "totalCount": 1,
        "nodes": [{"id": run["id"], "status": run["status"]}],
    }


async def test_awaiting_my_approval_is_empty_for_a_non_approver(h, ids, receiver):
    await waiting_run(h, receiver, ids["production"], DEVOPS)

    found = await awaiting(h, STAKEHOLDER)

    assert found == {"totalCount": 0, "nodes": []}


async def test_awaiting_my_approval_skips_the_runs_own_actor(h, ids, receiver):
    await waiting_run(h, receiver, ids["production"], DEVELOPER, DEVOPS, as_=DEVELOPER)

    found = await awaiting(h, DEVELOPER)

    assert found == {"totalCount": 0, "nodes": []}


async def test_awaiting_my_approval_drops_a_run_once_i_approved(h, ids, receiver):
    run = await waiting_run(
        h, receiver, ids["production"], DEVOPS, STAKEHOLDER, requiredApprovals=2
    )
    data(await review(h.gql, APPROVE, run["id"], as_=DEVOPS))

    found = await awaiting(h, DEVOPS)

    assert found == {"totalCount": 0, "nodes": []}


async def test_awaiting_my_approval_pages_past_runs_i_decided(h, ids, receiver):
    wanted = await waiting_run(h, receiver, ids["production"], DEVOPS)
    for name in ("second", "third"):
        decided = await waiting_run(
            h,
            receiver,
            ids["production"],
            DEVOPS,
            STAKEHOLDER,
            requiredApprovals=2,
            name=name,
        )
        data(await review(h.gql, APPROVE, decided["id"], as_=DEVOPS))

    body = await h.gql(
        "{ workflowRuns(first: 1, filter: {awaitingMyApproval: true}) {"
        " nodes { id } pageInfo { hasNextPage } } }",
        as_=DEVOPS,
    )

    assert data(body)["workflowRuns"] == {
        "nodes": [{"id": wanted["id"]}],
        "pageInfo": {"hasNextPage": False},
    }


async def test_awaiting_my_approval_lists_the_run_for_a_group_member(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], "group:sre")

    found = await awaiting(h, ALICE, groups=["sre"])

    assert [node["id"] for node in found["nodes"]] == [run["id"]]


async def test_approver_without_a_role_can_read_and_approve_the_run(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], RELEASE)

    seen = data(await h.gql(RUN, {"id": run["id"]}, as_=RELEASE))
    body = await review(h.gql, APPROVE, run["id"], as_=RELEASE)

    assert seen["workflowRun"]["id"] == run["id"]
    assert data(body)["approveWorkflowRun"]["run"]["status"] == "RUNNING"


async def test_approver_without_a_role_can_read_the_runs_collection(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], RELEASE)

    body = await h.gql(
        "query($id: ID!) { workflowRun(id: $id) { collection { id } } }",
        {"id": run["id"]},
        as_=RELEASE,
    )

    assert data(body)["workflowRun"]["collection"] == {"id": ids["production"]}


# Cancelling --------------------------------------------------------------------


async def test_owner_cancels_a_run(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS, as_=DEVELOPER)

    body = await h.gql(
        CANCEL, {"input": {"id": run["id"], "reason": "wrong"}}, as_=LEAD
    )
    await h.settle()

    assert data(body)["cancelWorkflowRun"]["run"]["status"] == "CANCELLED"
    final = await run_of(h.gql, run["id"])
    assert statuses(final) == ["CANCELLED", "SKIPPED"]
    assert "wrong" in final["steps"][0]["error"]
    assert receiver.calls == []


async def test_actor_cancels_their_own_run(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS, as_=DEVELOPER)

    body = await h.gql(CANCEL, {"input": {"id": run["id"]}}, as_=DEVELOPER)

    assert data(body)["cancelWorkflowRun"]["run"]["status"] == "CANCELLED"


async def test_editor_cannot_cancel_someone_elses_run(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    body = await h.gql(CANCEL, {"input": {"id": run["id"]}}, as_=DEVELOPER)

    assert codes(body) == ["FORBIDDEN"]
    assert (await run_of(h.gql, run["id"]))["status"] == "WAITING_FOR_APPROVAL"


async def test_approver_cannot_cancel_the_run(h, ids, receiver):
    run = await waiting_run(h, receiver, ids["production"], DEVOPS)

    body = await h.gql(CANCEL, {"input": {"id": run["id"]}}, as_=DEVOPS)

    assert codes(body) == ["FORBIDDEN"]


async def test_cancelling_a_finished_run_is_conflict(h, ids, receiver):
    run = await started(h, ids["production"], webhook(receiver.url + "/hook"))

    body = await h.gql(CANCEL, {"input": {"id": run["id"]}}, as_=LEAD)

    assert codes(body) == ["CONFLICT"]
    assert (await run_of(h.gql, run["id"]))["status"] == "SUCCEEDED"


async def test_cancelling_a_queued_run_keeps_the_runner_off_it(h, ids, receiver):
    workflow = await create_workflow(
        h.gql, workflow_input(ids["production"], webhook(receiver.url + "/hook"))
    )
    run = await triggered_run(h.gql, workflow["id"])

    data(await h.gql(CANCEL, {"input": {"id": run["id"]}}, as_=LEAD))
    await h.settle()

    assert (await run_of(h.gql, run["id"]))["status"] == "CANCELLED"
    assert receiver.calls == []


async def test_cancelling_a_running_step_ends_the_run_there(h, ids, receiver):
    receiver.default("/a", Reply(delay=0.5))
    [run_id] = await queued(h, ids["production"], receiver.url)
    working = asyncio.create_task(h.settle())
    await receiver.wait_for("/a")

    body = await h.gql(CANCEL, {"input": {"id": run_id}}, as_=LEAD)
    await working
    await h.settle()

    assert data(body)["cancelWorkflowRun"]["run"]["status"] == "CANCELLED"
    final = await run_of(h.gql, run_id)
    assert final["status"] == "CANCELLED"
    assert statuses(final) == ["CANCELLED", "SKIPPED"]
    assert receiver.calls_to("/b") == []


# Leases and several runners ----------------------------------------------------


async def queued(h: Harness, collection_id: str, url: str, count: int = 1) -> list[str]:
    workflow = await create_workflow(
        h.gql,
        workflow_input(collection_id, webhook(url + "/a"), webhook(url + "/b")),
    )
    return [(await triggered_run(h.gql, workflow["id"]))["id"] for _ in range(count)]


async def test_leased_run_is_left_to_its_runner(h, ids, receiver):
    [run_id] = await queued(h, ids["production"], receiver.url)
    now = utc_now()
    assert await h.runtime.store.runs.claim("runner-gone", now, later(60))

    moved = await h.runner.tick()

    assert not moved
    assert receiver.calls == []
    assert (await run_of(h.gql, run_id))["status"] == "QUEUED"


async def test_run_is_taken_over_when_its_lease_runs_out(h, ids, receiver):
    [run_id] = await queued(h, ids["production"], receiver.url)
    assert await h.runtime.store.runs.claim("runner-gone", utc_now(), later(60))

    await h.settle(h.clocked_runner(Clock(later(61))))

    assert (await run_of(h.gql, run_id))["status"] == "SUCCEEDED"
    assert len(receiver.calls_to("/a")) == 1
    assert len(receiver.calls_to("/b")) == 1


async def work(runner: Runner) -> None:
    """Tick until there is nothing left to do for a while (bounded)."""
    idle = 0
    async with asyncio.timeout(10):
        while idle < 4:
            if await runner.tick():
                idle = 0
            else:
                idle += 1
                await asyncio.sleep(0.05)


async def test_two_runners_never_run_a_step_at_once(h, ids, receiver):
    for path in ("/a", "/b"):
        receiver.default(path, Reply(delay=0.15))
    run_ids = await queued(h, ids["production"], receiver.url, count=4)
    first, second = h.clocked_runner(utc_now), h.clocked_runner(utc_now)

    await asyncio.gather(work(first), work(second))

    assert receiver.overlaps == 0
    assert len(receiver.calls) == 8
    assert set(Counter(call.key for call in receiver.calls).values()) == {1}
    for run_id in run_ids:
        assert (await run_of(h.gql, run_id))["status"] == "SUCCEEDED"


async def test_two_runners_start_each_run_once(h, ids, receiver):
    workflow = await create_workflow(
        h.gql, workflow_input(ids["production"], webhook(receiver.url + "/a"))
    )
    for _ in range(3):
        await triggered_run(h.gql, workflow["id"])
    first, second = h.clocked_runner(utc_now), h.clocked_runner(utc_now)

    await asyncio.gather(work(first), work(second))

    runs = await runs_of(h.gql, workflow["id"])
    assert [run["status"] for run in runs] == ["SUCCEEDED"] * 3
    assert [run["steps"][0]["attempts"] for run in runs] == [1, 1, 1]
    assert len(receiver.calls_to("/a")) == 3
