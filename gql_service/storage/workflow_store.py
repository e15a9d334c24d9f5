"""Workflows and runs: reads, and the runner's leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from gql_service.domain.workflows import (
    Run,
    RunStatus,
    Workflow,
    WorkflowTrigger,
)
from gql_service.storage.documents import object_id
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.markers import HIDDEN
from gql_service.storage.paging import combine
from gql_service.storage.workflow_documents import run_from_doc, workflow_from_doc

RUNNABLE = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]


class WorkflowRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def get(self, workflow_id: str) -> Workflow | None:
        doc = await self._docs.find_one({"_id": object_id(workflow_id)}, HIDDEN)
        return workflow_from_doc(doc) if doc else None

    async def for_collections(self, collection_ids: list[str]) -> list[Workflow]:
        docs = await self._docs.find_many(
            {"collection_id": {"$in": [object_id(v) for v in collection_ids]}},
            sort=[("name", 1), ("_id", 1)],
            projection=HIDDEN,
        )
        return [workflow_from_doc(doc) for doc in docs]

    async def due(self, now: datetime, limit: int) -> list[Workflow]:
        docs = await self._docs.find_many(
            {
                "enabled": True,
                "triggers": WorkflowTrigger.SCHEDULED.value,
                "next_run_at": {"$lte": now},
            },
            sort=[("next_run_at", 1)],
            limit=limit,
            projection=HIDDEN,
        )
        return [workflow_from_doc(doc) for doc in docs]

    async def claim_tick(
        self, workflow_id: str, tick: datetime, following: datetime | None
    ) -> bool:
        """Move next_run_at on from ``tick``; only one process wins a tick."""
        matched = await self._docs.update_one(
            {"_id": object_id(workflow_id), "next_run_at": tick},
            {"$set": {"next_run_at": following}},
        )
        return matched == 1


class RunRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def get(self, run_id: str) -> Run | None:
        doc = await self._docs.find_one({"_id": object_id(run_id)}, HIDDEN)
        return run_from_doc(doc) if doc else None

    async def raw(self, run_id: str) -> dict[str, Any] | None:
        """The run document with its bookkeeping (place, version, lease)."""
        return await self._docs.find_one({"_id": object_id(run_id)}, HIDDEN)

    async def renew(self, run_id: str, owner: str, until: datetime) -> bool:
        matched = await self._docs.update_one(
            {"_id": object_id(run_id), "lease_owner": owner},
            {"$set": {"lease_until": until}},
        )
        return matched == 1

    async def list(
        self, query: dict[str, Any], after: str | None, limit: int
    ) -> list[Run]:
        page = {"_id": {"$lt": ObjectId(after)}} if after else None
        docs = await self._docs.find_many(
            combine(query, page), sort=[("_id", -1)], limit=limit, projection=HIDDEN
        )
        return [run_from_doc(doc) for doc in docs]

    async def count(self, query: dict[str, Any]) -> int:
        return await self._docs.count(query)

    async def claim(self, owner: str, now: datetime, until: datetime) -> Run | None:
        """Lease one run that is due; no other runner gets it until ``until``."""
        doc = await self._docs.find_one_and_update(
            {
                "status": {"$in": RUNNABLE},
                "next_attempt_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
            },
            {"$set": {"lease_owner": owner, "lease_until": until}},
            projection=HIDDEN,
        )
        return run_from_doc(doc) if doc else None

    async def release(self, run_id: str, owner: str) -> None:
        await self._docs.update_one(
            {"_id": object_id(run_id), "lease_owner": owner},
            {"$set": {"lease_owner": None, "lease_until": None}},
        )

    async def release_all(self, owner: str) -> int:
        return await self._docs.update_many(
            {"lease_owner": owner}, {"$set": {"lease_owner": None, "lease_until": None}}
        )

    async def waiting_past_deadline(self, now: datetime, limit: int) -> list[Run]:
        docs = await self._docs.find_many(
            {
                "status": RunStatus.WAITING_FOR_APPROVAL.value,
                "approval_deadline": {"$lt": now},
            },
            limit=limit,
            projection=HIDDEN,
        )
        return [run_from_doc(doc) for doc in docs]


def run_query(
    *,
    collection_ids: list[str] | None = None,
    workflow_id: str | None = None,
    statuses: list[RunStatus] | None = None,
    approvers: list[str] | None = None,
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if collection_ids is not None:
        parts.append({"collection_id": {"$in": [object_id(v) for v in collection_ids]}})
    if workflow_id is not None:
        parts.append({"workflow_id": object_id(workflow_id)})
    if statuses:
        parts.append({"status": {"$in": [s.value for s in statuses]}})
    if approvers is not None:
        parts.append(
            {
                "status": RunStatus.WAITING_FOR_APPROVAL.value,
                "approvers": {"$in": approvers},
            }
        )
    return combine(*parts)


def run_scope(
    member_project_ids: list[str] | None,
    readable_collection_ids: list[str],
    identities: list[str],
) -> dict[str, Any]:
    """Runs a subject may read: of readable collections, or awaiting its decision."""
    if member_project_ids is None:
        return {}
    return {
        "$or": [
            {"project_id": {"$in": [object_id(v) for v in member_project_ids]}},
            {"collection_id": {"$in": [object_id(v) for v in readable_collection_ids]}},
            {"approvers": {"$in": identities}},
        ]
    }
