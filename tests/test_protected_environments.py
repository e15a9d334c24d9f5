"""Protected environments: promotions into them wait for N of M approvers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import codes, data
from tests.receivers import Receiver, recording_receiver
from tests.workflow_support import (
    AUDIT,
    BY_NAME,
    DEVELOPER,
    DEVOPS,
    LEAD,
    STAKEHOLDER,
    STRANGER,
    UPDATE_COLLECTION,
    Clock,
    Harness,
    as_admin,
    create_workflow,
    harness,
    later,
    promote,
    runs_of,
    seed,
    webhook,
    workflow_input,
)

RELEASE = "release@company.com"
ORIGINAL = "Storefront web tier"
CHANGED = "Storefront web tier v2"

SET_PROTECTION = """
mutation($input: SetEnvironmentProtectionInput!) {
  setEnvironmentProtection(input: $input) { project {
    environments { name protection {
      approvers requiredApprovals preventSelfReview } } } } }
"""

PROTECTIONS = """
{ project(name: "ecommerce-platform") { version environments {
  name protection { approvers requiredApprovals preventSelfReview } } } }
"""

PROMOTION = """
query($id: ID!) { promotion(id: $id) {
  id status actor completedAt targetEnvironment
  approvals { approver verdict comment } } }
"""

PROMOTIONS = """
query($filter: PromotionFilter) { promotions(filter: $filter) {
  totalCount nodes { id status } } }
"""

REVIEW_FIELDS = "{ promotion { id status approvals { approver verdict } } }"
APPROVE = (
    "mutation($input: ReviewPromotionInput!) { approvePromotion(input: $input) "
    + REVIEW_FIELDS
    + " }"
)
REJECT = (
    "mutation($input: ReviewPromotionInput!) { rejectPromotion(input: $input) "
    + REVIEW_FIELDS
    + " }"
)
CANCEL = (
    "mutation($input: ReviewPromotionInput!) { cancelPromotion(input: $input) "
    + REVIEW_FIELDS
    + " }"
)


@pytest.fixture
async def ids(h: Harness) -> dict[str, str]:
    found = await seed(h)
    # Staging differs from production, so an applied promotion shows.
    given = {"id": found["staging"], "description": CHANGED}
    data(await h.gql(UPDATE_COLLECTION, {"input": given}, as_=DEVELOPER))
    return found


async def protect(
    h: Harness,
    *approvers: str,
    as_: str = LEAD,
    environment: str = "production",
    **fields: Any,
) -> dict[str, Any]:
    given = {
        "project": "ecommerce-platform",
        "environment": environment,
        "protection": {"approvers": list(approvers), **fields},
    }
    body: dict[str, Any] = await h.gql(SET_PROTECTION, {"input": given}, as_=as_)
    return body


async def protection_of(h: Harness, environment: str = "production") -> Any:
    found = await as_admin(h.gql, PROTECTIONS)
    for stage in found["project"]["environments"]:
        if stage["name"] == environment:
            return stage["protection"]
    raise AssertionError(environment)


async def held(h: Harness, *, as_: str = DEVELOPER) -> dict[str, Any]:
    """Promote web-app from staging into production; return the promotion."""
    ids = await web_app(h)
    body = await promote(h.gql, ids["staging"], as_=as_)
    promotion: dict[str, Any] = data(body)["promoteCollection"]["promotion"]
    return promotion


async def web_app(h: Harness) -> dict[str, str]:
    found = {}
    for environment in ("staging", "production"):
        got = await as_admin(h.gql, BY_NAME, {"environment": environment})
        found[environment] = got["collectionByName"]["id"]
    return found


async def production_description(h: Harness) -> str:
    found = await as_admin(h.gql, BY_NAME, {"environment": "production"})
    description: str = found["collectionByName"]["description"]
    return description


async def promotion_of(h: Harness, promotion_id: str) -> dict[str, Any]:
    found = await as_admin(h.gql, PROMOTION, {"id": promotion_id})
    promotion: dict[str, Any] = found["promotion"]
    return promotion


async def promoted_events(h: Harness, collection_id: str) -> int:
    found = await as_admin(
        h.gql,
        AUDIT,
        {"filter": {"collectionId": collection_id, "types": ["ENVIRONMENT_PROMOTED"]}},
    )
    count: int = found["auditLog"]["totalCount"]
    return count


async def decide(
    h: Harness,
    operation: str,
    promotion_id: str,
    *,
    as_: str,
    groups: list[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = await h.gql(
        operation, {"input": {"id": promotion_id}}, as_=as_, groups=groups
    )
    return body


# Setting the protection ----------------------------------------------------------


async def test_project_owner_protects_an_environment(h, ids):
    body = await protect(h, DEVOPS, STAKEHOLDER, requiredApprovals=2)

    assert "errors" not in body
    assert await protection_of(h) == {
        "approvers": [DEVOPS, STAKEHOLDER],
        "requiredApprovals": 2,
        "preventSelfReview": True,
    }


async def test_project_editor_cannot_protect_an_environment(h, ids):
    body = await protect(h, DEVOPS, as_=DEVELOPER)

    assert codes(body) == ["FORBIDDEN"]
    assert await protection_of(h) is None


async def test_collection_viewer_cannot_protect_an_environment(h, ids):
    body = await protect(h, DEVOPS, as_=DEVOPS)

    assert codes(body) == ["FORBIDDEN"]
    assert await protection_of(h) is None


async def test_stranger_cannot_find_the_project_to_protect(h, ids):
    body = await protect(h, DEVOPS, as_=STRANGER)

    assert codes(body) == ["NOT_FOUND"]
    assert await protection_of(h) is None


async def test_null_protection_removes_it(h, ids):
    data(await protect(h, DEVOPS))
    given = {
        "project": "ecommerce-platform",
        "environment": "production",
        "protection": None,
    }

    data(await h.gql(SET_PROTECTION, {"input": given}, as_=LEAD))
    promotion = await held(h)

    assert await protection_of(h) is None
    assert promotion["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("approvers", "fields"),
    [
        ([], {}),
        ([DEVOPS, DEVOPS], {}),
        ([DEVOPS], {"requiredApprovals": 0}),
        ([DEVOPS, STAKEHOLDER], {"requiredApprovals": 3}),
        ([DEVOPS], {"requiredApprovals": -1}),
        ([""], {}),
    ],
)
async def test_bad_protection_is_refused_and_changes_nothing(h, ids, approvers, fields):
    before = await as_admin(h.gql, PROTECTIONS)

    body = await protect(h, *approvers, **fields)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await as_admin(h.gql, PROTECTIONS) == before


async def test_protecting_an_unknown_environment_is_refused(h, ids):
    body = await protect(h, DEVOPS, environment="prod")

    assert codes(body) == ["BAD_USER_INPUT"]


# Holding the promotion -----------------------------------------------------------


async def test_promotion_into_a_protected_environment_waits(h, ids):
    data(await protect(h, DEVOPS))

    promotion = await held(h)

    assert promotion["status"] == "PENDING_APPROVAL"
    assert await production_description(h) == ORIGINAL
    assert await promoted_events(h, ids["production"]) == 0


async def test_promotion_into_an_unprotected_environment_is_applied(h, ids):
    data(await protect(h, DEVOPS, environment="testing"))

    promotion = await held(h)

    assert promotion["status"] == "SUCCEEDED"
    assert await production_description(h) == CHANGED


async def test_one_of_two_approvals_keeps_the_promotion_waiting(h, ids):
    data(await protect(h, DEVOPS, STAKEHOLDER, LEAD, requiredApprovals=2))
    promotion = await held(h)

    body = await decide(h, APPROVE, promotion["id"], as_=DEVOPS)

    assert data(body)["approvePromotion"]["promotion"]["status"] == "PENDING_APPROVAL"
    assert await production_description(h) == ORIGINAL
    assert await promoted_events(h, ids["production"]) == 0


async def test_enough_approvals_apply_the_promotion(h, ids):
    data(await protect(h, DEVOPS, STAKEHOLDER, LEAD, requiredApprovals=2))
    promotion = await held(h)
    data(await decide(h, APPROVE, promotion["id"], as_=DEVOPS))

    body = await decide(h, APPROVE, promotion["id"], as_=STAKEHOLDER)

    decided = data(body)["approvePromotion"]["promotion"]
    assert decided["status"] == "SUCCEEDED"
    assert [a["approver"] for a in decided["approvals"]] == [DEVOPS, STAKEHOLDER]
    assert await production_description(h) == CHANGED
    assert await promoted_events(h, ids["production"]) == 1
    assert (await promotion_of(h, promotion["id"]))["completedAt"] is not None


async def test_approved_promotion_starts_the_targets_workflows_once(h, ids):
    async with recording_receiver() as receiver:
        workflow = await promoted_workflow(h, ids["production"], receiver)
        data(await protect(h, DEVOPS))
        promotion = await held(h)
        await h.settle()
        assert await runs_of(h.gql, workflow["id"]) == []

        data(await decide(h, APPROVE, promotion["id"], as_=DEVOPS))
        await h.settle()

    [run] = await runs_of(h.gql, workflow["id"])
    assert (run["status"], run["triggeredBy"]) == ("SUCCEEDED", DEVELOPER)
    assert len(receiver.calls_to("/hook")) == 1


async def promoted_workflow(
    h: Harness, collection_id: str, receiver: Receiver
) -> dict[str, Any]:
    given = workflow_input(
        collection_id,
        webhook(receiver.url + "/hook"),
        triggers=("ENVIRONMENT_PROMOTED",),
    )
    return await create_workflow(h.gql, given)


async def test_self_review_is_blocked_by_default(h, ids):
    data(await protect(h, DEVELOPER, DEVOPS))
    promotion = await held(h, as_=DEVELOPER)

    body = await decide(h, APPROVE, promotion["id"], as_=DEVELOPER)

    assert codes(body) == ["FORBIDDEN"]
    assert (await promotion_of(h, promotion["id"]))["approvals"] == []
    assert await production_description(h) == ORIGINAL


async def test_self_review_counts_when_allowed(h, ids):
    data(await protect(h, DEVELOPER, DEVOPS, preventSelfReview=False))
    promotion = await held(h, as_=DEVELOPER)

    body = await decide(h, APPROVE, promotion["id"], as_=DEVELOPER)

    assert data(body)["approvePromotion"]["promotion"]["status"] == "SUCCEEDED"
    assert await production_description(h) == CHANGED


async def test_approving_a_promotion_twice_is_conflict(h, ids):
    data(await protect(h, DEVOPS, STAKEHOLDER, requiredApprovals=2))
    promotion = await held(h)
    data(await decide(h, APPROVE, promotion["id"], as_=DEVOPS))

    body = await decide(h, APPROVE, promotion["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]
    assert len((await promotion_of(h, promotion["id"]))["approvals"]) == 1


async def test_non_approver_cannot_approve_a_promotion(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h)

    body = await decide(h, APPROVE, promotion["id"], as_=STAKEHOLDER)

    assert codes(body) == ["FORBIDDEN"]
    assert (await promotion_of(h, promotion["id"]))["status"] == "PENDING_APPROVAL"


async def test_group_approver_approves_a_promotion(h, ids):
    data(await protect(h, "group:release"))
    promotion = await held(h)

    body = await decide(
        h, APPROVE, promotion["id"], as_=STAKEHOLDER, groups=["release"]
    )

    assert data(body)["approvePromotion"]["promotion"]["status"] == "SUCCEEDED"


async def test_group_member_counts_once_for_a_promotion(h, ids):
    data(await protect(h, "group:release", DEVOPS, requiredApprovals=2))
    promotion = await held(h)
    data(await decide(h, APPROVE, promotion["id"], as_=STAKEHOLDER, groups=["release"]))

    body = await decide(
        h, APPROVE, promotion["id"], as_=STAKEHOLDER, groups=["release"]
    )

    assert codes(body) == ["CONFLICT"]
    assert (await promotion_of(h, promotion["id"]))["status"] == "PENDING_APPROVAL"


async def test_approver_without_a_role_reads_and_approves_the_promotion(h, ids):
    data(await protect(h, RELEASE))
    promotion = await held(h)

    seen = data(await h.gql(PROMOTION, {"id": promotion["id"]}, as_=RELEASE))
    body = await decide(h, APPROVE, promotion["id"], as_=RELEASE)

    assert seen["promotion"]["status"] == "PENDING_APPROVAL"
    assert data(body)["approvePromotion"]["promotion"]["status"] == "SUCCEEDED"


async def test_approver_without_a_role_reads_the_promotions_target(h, ids):
    data(await protect(h, RELEASE))
    promotion = await held(h)

    body = await h.gql(
        "query($id: ID!) { promotion(id: $id) { target { id } } }",
        {"id": promotion["id"]},
        as_=RELEASE,
    )

    assert data(body)["promotion"]["target"] == {"id": ids["production"]}


# Finding work --------------------------------------------------------------------


async def pending_for(h: Harness, subject: str) -> dict[str, Any]:
    body = await h.gql(
        PROMOTIONS, {"filter": {"status": ["PENDING_APPROVAL"]}}, as_=subject
    )
    found: dict[str, Any] = data(body)["promotions"]
    return found


async def test_pending_promotions_are_listed_for_an_approver(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h)

    found = await pending_for(h, DEVOPS)

    assert found == {
        "totalCount": 1,
        "nodes": [{"id": promotion["id"], "status": "PENDING_APPROVAL"}],
    }


async def test_pending_promotions_are_listed_for_an_approver_without_a_role(h, ids):
    data(await protect(h, RELEASE))
    promotion = await held(h)

    found = await pending_for(h, RELEASE)

    assert [node["id"] for node in found["nodes"]] == [promotion["id"]]


async def test_decided_promotion_leaves_the_pending_list(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h)

    data(await decide(h, APPROVE, promotion["id"], as_=DEVOPS))

    assert await pending_for(h, DEVOPS) == {"totalCount": 0, "nodes": []}


# Ending it otherwise -------------------------------------------------------------


async def test_rejection_ends_the_promotion(h, ids):
    data(await protect(h, DEVOPS, STAKEHOLDER, requiredApprovals=2))
    promotion = await held(h)
    data(await decide(h, APPROVE, promotion["id"], as_=DEVOPS))

    body = await decide(h, REJECT, promotion["id"], as_=STAKEHOLDER)

    assert data(body)["rejectPromotion"]["promotion"]["status"] == "REJECTED"
    assert await production_description(h) == ORIGINAL
    assert await promoted_events(h, ids["production"]) == 0
    assert (await promotion_of(h, promotion["id"]))["completedAt"] is not None


async def test_approving_a_rejected_promotion_is_conflict(h, ids):
    data(await protect(h, DEVOPS, STAKEHOLDER))
    promotion = await held(h)
    data(await decide(h, REJECT, promotion["id"], as_=STAKEHOLDER))

    body = await decide(h, APPROVE, promotion["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]
    assert await production_description(h) == ORIGINAL


async def test_promotion_expires(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h)

    expired = await h.runtime.services.promotions.expire_due(later(73 * 3600))

    assert expired == 1
    assert (await promotion_of(h, promotion["id"]))["status"] == "EXPIRED"
    assert await production_description(h) == ORIGINAL


async def test_promotion_does_not_expire_early(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h)

    expired = await h.runtime.services.promotions.expire_due(later(71 * 3600))

    assert expired == 0
    assert (await promotion_of(h, promotion["id"]))["status"] == "PENDING_APPROVAL"


async def test_runner_expires_promotions_after_the_configured_hours(database):
    async with harness(database, promotion_approval_hours=1) as h:
        await seed(h)
        data(await protect(h, DEVOPS))
        promotion = await held(h)

        await h.clocked_runner(Clock(later(3601))).tick()

        assert (await promotion_of(h, promotion["id"]))["status"] == "EXPIRED"


async def test_approving_an_expired_promotion_is_conflict(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h)
    await h.runtime.services.promotions.expire_due(later(73 * 3600))

    body = await decide(h, APPROVE, promotion["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]
    assert await production_description(h) == ORIGINAL


async def test_actor_cancels_the_promotion(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h, as_=DEVELOPER)

    body = await decide(h, CANCEL, promotion["id"], as_=DEVELOPER)

    assert data(body)["cancelPromotion"]["promotion"]["status"] == "CANCELLED"
    assert await production_description(h) == ORIGINAL


async def test_project_owner_cancels_the_promotion(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h, as_=DEVELOPER)

    body = await decide(h, CANCEL, promotion["id"], as_=LEAD)

    assert data(body)["cancelPromotion"]["promotion"]["status"] == "CANCELLED"


async def test_approver_cannot_cancel_the_promotion(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h, as_=DEVELOPER)

    body = await decide(h, CANCEL, promotion["id"], as_=DEVOPS)

    assert codes(body) == ["FORBIDDEN"]
    assert (await promotion_of(h, promotion["id"]))["status"] == "PENDING_APPROVAL"


async def test_approving_a_cancelled_promotion_is_conflict(h, ids):
    data(await protect(h, DEVOPS))
    promotion = await held(h, as_=DEVELOPER)
    data(await decide(h, CANCEL, promotion["id"], as_=DEVELOPER))

    body = await decide(h, APPROVE, promotion["id"], as_=DEVOPS)

    assert codes(body) == ["CONFLICT"]
    assert await production_description(h) == ORIGINAL


async def test_cancelling_an_applied_promotion_is_conflict(h, ids):
    promotion = await held(h, as_=DEVELOPER)

    body = await decide(h, CANCEL, promotion["id"], as_=DEVELOPER)

    assert codes(body) == ["CONFLICT"]
    assert (await promotion_of(h, promotion["id"]))["status"] == "SUCCEEDED"
