"""Every write of the service, as idempotent operations tied to their events.

An operation is a plain document stored inside its pending event, so the
sweeper of any process can finish it after a crash. Each step either
carries the event cursor as a marker (``storage.markers``) or is naturally
idempotent (an insert with a fixed ``_id``, a delete), so applying an
operation twice changes nothing the second time. A refused step raises a
ServiceError before anything is written, or after undoing what it wrote,
and the log then marks the event aborted.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from gql_service.domain.models import utc_now
from gql_service.errors import (
    BadUserInputError,
    CollectionNotEmptyError,
    ConflictError,
    NotFoundError,
    ServiceError,
)
from gql_service.storage.database import Database
from gql_service.storage.markers import FIELD as MARKERS
from gql_service.storage.markers import HIDDEN, not_applied, push
from gql_service.storage.outcome import Outcome
from gql_service.storage.workflow_changes import WorkflowChanges

logger = logging.getLogger(__name__)

DUPLICATE_KEY = 11000


class ChangeApplier(WorkflowChanges):
    def __init__(self, database: Database) -> None:
        self._projects = database.collection("projects")
        self._collections = database.collection("service_collections")
        self._resources = database.collection("resources")
        self._counts = database.collection("environment_counts")
        self._promotions = database.collection("promotions")
        self._tombstones = database.collection("collection_tombstones")
        self._events = database.collection("events")
        self._workflows = database.collection("workflows")
        self._runs = database.collection("workflow_runs")

    async def apply(self, seqs: list[int], ops: list[dict[str, Any]]) -> Outcome:
        handler = getattr(self, "_apply_" + ops[0]["kind"])
        result: Outcome = await handler(seqs, ops)
        return result

    async def is_applied(self, seq: int, op: dict[str, Any]) -> bool:
        """Did the first write of this operation happen? (For the sweeper.)"""
        check = getattr(self, "_applied_" + op["kind"])
        result: bool = await check(seq, op)
        return result

    # Shared steps -------------------------------------------------------

    async def _count(
        self,
        project_id: Any,
        environment: str,
        seqs: list[int],
        *,
        collections: int = 0,
        resources: int = 0,
    ) -> None:
        query = {
            "project_id": project_id,
            "environment": environment,
            **not_applied(seqs),
        }
        update = {
            "$inc": {"collection_count": collections, "resource_count": resources},
            "$push": {MARKERS: push(seqs)[MARKERS]},
        }
        try:
            await self._counts.update_one(query, update, upsert=True)
        except DuplicateKeyError:
            # Either already applied (the marker kept it from matching) or a
            # racing first upsert created the document; a plain update tells.
            await self._counts.update_one(query, update)

    async def _insert_once(self, target: Any, doc: dict[str, Any], taken: str) -> None:
        try:
            await target.insert_one(doc)
        except DuplicateKeyError as exc:
            if await target.find_one({"_id": doc["_id"]}, {"_id": 1}) is None:
                raise ConflictError(taken) from exc

    async def _has_marker(self, target: Any, doc_id: Any, seq: int) -> bool:
        return (
            await target.find_one({"_id": doc_id, MARKERS: seq}, {"_id": 1}) is not None
        )

    # Projects -----------------------------------------------------------

    async def _apply_insert_project(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        doc = {**ops[0]["doc"], MARKERS: seqs}
        await self._insert_once(
            self._projects, doc, "Project {!r} already exists.".format(doc["name"])
        )
        return Outcome({"project": doc})

    async def _applied_insert_project(self, seq: int, op: dict[str, Any]) -> bool:
        return (
            await self._projects.find_one({"_id": op["doc"]["_id"]}, {"_id": 1})
            is not None
        )

    async def _apply_update_project(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op = ops[0]
        dropped = op.get("dropped") or []
        await self._check_empty(op["project_id"], dropped)
        doc = await self._projects.find_one_and_update(
            {"_id": op["project_id"], "version": op["version"], **not_applied(seqs)},
            {"$set": op["fields"], "$inc": {"version": 1}, "$push": push(seqs)},
            projection=HIDDEN,
        )
        if doc is None:
            return Outcome(
                {"project": await self._already_applied_project(op, seqs[0])}
            )
        try:
            await self._check_empty(op["project_id"], dropped)
        except BadUserInputError:
            # A collection landed in a dropped environment meanwhile: put the
            # old path back. insert_collection checks the same the other way.
            await self._projects.update_one(
                {"_id": op["project_id"]},
                {
                    "$set": {"environments": op["previous_environments"]},
                    "$inc": {"version": 1},
                },
            )
            raise
        return Outcome({"project": doc})

    async def _already_applied_project(
        self, op: dict[str, Any], seq: int
    ) -> dict[str, Any]:
        current = await self._projects.find_one({"_id": op["project_id"]}, HIDDEN)
        if current is None:
            raise NotFoundError("No such project.")
        if not await self._has_marker(self._projects, op["project_id"], seq):
            raise ConflictError("The project has changed; reload it and retry.")
        return current

    async def _applied_update_project(self, seq: int, op: dict[str, Any]) -> bool:
        return await self._has_marker(self._projects, op["project_id"], seq)

    async def _check_empty(self, project_id: Any, environments: list[str]) -> None:
        if not environments:
            return
        busy = await self._counts.find_many(
            {
                "project_id": project_id,
                "environment": {"$in": environments},
                "collection_count": {"$gt": 0},
            },
            projection={"environment": 1},
        )
        if busy:
            names = ", ".join(sorted(doc["environment"] for doc in busy))
            raise BadUserInputError(
                "Environments that still hold collections cannot be dropped: " + names,
                field="environments",
            )

    # Collections --------------------------------------------------------

    async def _apply_insert_collection(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        doc = {**ops[0]["doc"], MARKERS: seqs}
        await self._check_on_path(doc)
        await self._insert_once(
            self._collections,
            doc,
            "Collection {!r} already exists in {}/{}.".format(
                doc["name"], doc["project"], doc["environment"]
            ),
        )
        await self._count(doc["project_id"], doc["environment"], seqs, collections=1)
        try:
            await self._check_on_path(doc)
        except BadUserInputError:
            await self._collections.delete_one({"_id": doc["_id"]})
            await self._count(
                doc["project_id"], doc["environment"], [-seqs[0]], collections=-1
            )
            raise
        return Outcome({"collection": doc})

    async def _check_on_path(self, doc: dict[str, Any]) -> None:
        project = await self._projects.find_one(
            {"_id": doc["project_id"]}, {"environments": 1, "name": 1}
        )
        if project is None or doc["environment"] not in project["environments"]:
            valid = ", ".join(project["environments"]) if project else "none"
            raise BadUserInputError(
                f"Environment {doc['environment']!r} is not on the promotion path "
                f"of {doc['project']!r}; valid: {valid}.",
                field="environment",
            )

    async def _applied_insert_collection(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._collections.find_one({"_id": op["doc"]["_id"]}, {"_id": 1})
        return found is not None

    async def _apply_update_collection(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op = ops[0]
        query: dict[str, Any] = {
            "_id": op["collection_id"],
            "deleting_by": None,
            **not_applied(seqs),
        }
        if op.get("version") is not None:
            query["version"] = op["version"]
        doc = await self._collections.find_one_and_update(
            query,
            {"$set": op["fields"], "$inc": {"version": 1}, "$push": push(seqs)},
            projection=HIDDEN,
        )
        if doc is None:
            doc = await self._collection_after_miss(op["collection_id"], seqs[0])
        return Outcome({"collection": doc})

    async def _collection_after_miss(
        self, collection_id: Any, seq: int
    ) -> dict[str, Any]:
        current = await self._collections.find_one(
            {"_id": collection_id, "deleting_by": None}, HIDDEN
        )
        if current is None:
            raise NotFoundError("No such collection.")
        if not await self._has_marker(self._collections, collection_id, seq):
            raise ConflictError(
                "The collection has changed since the version you sent.",
                currentVersion=current["version"],
            )
        return current

    async def _applied_update_collection(self, seq: int, op: dict[str, Any]) -> bool:
        return await self._has_marker(self._collections, op["collection_id"], seq)

    async def _apply_delete_collection(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op, seq = ops[0], seqs[0]
        count = await self._claim_deletion(op, seq)
        await self._events.update_one({"_id": seq}, {"$set": {"op.count": count}})
        await self._tombstones.update_one(
            {"_id": op["collection_id"]},
            {"$set": {"project_id": op["project_id"], "readers": op["readers"]}},
            upsert=True,
        )
        detached = await self._resources.delete_many(
            {"collection_id": op["collection_id"]}
        )
        await self._collections.delete_one({"_id": op["collection_id"]})
        await self._count(
            op["project_id"], op["environment"], seqs, collections=-1, resources=-count
        )
        logger.info("Collection deleted; %d resources detached", detached)
        return Outcome({"detached": count})

    async def _claim_deletion(self, op: dict[str, Any], seq: int) -> int:
        """Mark the collection as ours to delete; return its final resource count."""
        query: dict[str, Any] = {"_id": op["collection_id"], "deleting_by": None}
        if op["require_empty"]:
            query["resource_count"] = 0
        doc = await self._collections.find_one_and_update(
            query, {"$set": {"deleting_by": seq}}, projection={"resource_count": 1}
        )
        if doc is not None:
            return int(doc["resource_count"])
        current = await self._collections.find_one(
            {"_id": op["collection_id"]}, {"resource_count": 1, "deleting_by": 1}
        )
        if current is not None and current.get("deleting_by") == seq:
            return int(current["resource_count"])
        if current is None and "count" in op:
            return int(op["count"])
        if current is not None and current.get("deleting_by") is None:
            raise CollectionNotEmptyError(
                "The collection holds {} resources; remove them or pass force: "
                "true.".format(current["resource_count"]),
                resourceCount=current["resource_count"],
            )
        raise NotFoundError("No such collection.")

    async def _applied_delete_collection(self, seq: int, op: dict[str, Any]) -> bool:
        current = await self._collections.find_one(
            {"_id": op["collection_id"]}, {"deleting_by": 1}
        )
        if current is not None:
            return bool(current.get("deleting_by") == seq)
        return "count" in op

    # Resources ----------------------------------------------------------

    async def _apply_insert_resource(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        first = ops[0]
        docs = [
            {**op["doc"], "event_seq": seq} for seq, op in zip(seqs, ops, strict=True)
        ]
        refused = await self._insert_resources(seqs, docs)
        done = [seq for seq in seqs if seq not in refused]
        if not done:
            return Outcome({}, refused)

        collection = await self._collections.find_one_and_update(
            {"_id": first["collection_id"], "deleting_by": None, **not_applied(done)},
            {
                "$inc": {"resource_count": len(done), "version": len(done)},
                "$set": {"updated_at": utc_now()},
                "$push": push(done),
            },
            projection=HIDDEN,
        )
        if collection is None:
            collection = await self._collections.find_one(
                {"_id": first["collection_id"], "deleting_by": None, MARKERS: done[0]},
                HIDDEN,
            )
        if collection is None:
            # The collection went away while we added: take ours back out.
            await self._resources.delete_many({"event_seq": {"$in": done}})
            raise NotFoundError("No such collection.")
        await self._count(
            first["project_id"], first["environment"], done, resources=len(done)
        )
        return Outcome({"collection": collection}, refused)

    async def _insert_resources(
        self, seqs: list[int], docs: list[dict[str, Any]]
    ) -> dict[int, ServiceError]:
        refused: dict[int, ServiceError] = {}
        try:
            await self._resources.insert_many(docs)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                index = error["index"]
                mine = await self._resources.find_one(
                    {"_id": docs[index]["_id"]}, {"_id": 1}
                )
                if mine is None:
                    refused[seqs[index]] = ConflictError(
                        "{} {!r} is already in the collection.".format(
                            docs[index]["resource_type"], docs[index]["resource_id"]
                        )
                    )
        return refused

    async def _applied_insert_resource(self, seq: int, op: dict[str, Any]) -> bool:
        return (
            await self._resources.find_one({"_id": op["doc"]["_id"]}, {"_id": 1})
            is not None
        )

    async def _apply_update_resource(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op, seq = ops[0], seqs[0]
        restricted = op.get("restricted") or []
        if restricted:
            # Marked before the grant lands, so counts never overstate.
            each = {"$addToSet": {"restricted_subjects": {"$each": restricted}}}
            await self._collections.update_one({"_id": op["collection_id"]}, each)
            await self._counts.update_one(
                {"project_id": op["project_id"], "environment": op["environment"]}, each
            )
        resource = await self._resources.find_one_and_update(
            {"_id": op["resource_ref_id"], "removed_by": None, **not_applied(seqs)},
            {"$set": op["fields"], "$push": push(seqs)},
            projection=HIDDEN,
        )
        if resource is None:
            resource = await self._resources.find_one(
                {"_id": op["resource_ref_id"], "removed_by": None, MARKERS: seq}, HIDDEN
            )
        if resource is None:
            raise NotFoundError("No such resource here any more.")
        collection = await self._bump_collection(op["collection_id"], seqs, 0)
        return Outcome({"collection": collection, "resource": resource})

    async def _bump_collection(
        self, collection_id: Any, seqs: list[int], delta: int
    ) -> dict[str, Any] | None:
        doc = await self._collections.find_one_and_update(
            {"_id": collection_id, "deleting_by": None, **not_applied(seqs)},
            {
                "$inc": {"resource_count": delta, "version": 1},
                "$set": {"updated_at": utc_now()},
                "$push": push(seqs),
            },
            projection=HIDDEN,
        )
        if doc is None:
            doc = await self._collections.find_one(
                {"_id": collection_id, "deleting_by": None}, HIDDEN
            )
        return doc

    async def _applied_update_resource(self, seq: int, op: dict[str, Any]) -> bool:
        return await self._has_marker(self._resources, op["resource_ref_id"], seq)

    async def _apply_remove_resource(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op, seq = ops[0], seqs[0]
        resource = await self._resources.find_one_and_update(
            {"_id": op["resource_ref_id"], "removed_by": None},
            {"$set": {"removed_by": seq}},
            projection=HIDDEN,
        )
        if resource is None and not await self._applied_remove_resource(seq, op):
            raise NotFoundError("No such resource here any more.")
        collection = await self._bump_collection(op["collection_id"], seqs, -1)
        if collection is not None:
            await self._count(op["project_id"], op["environment"], seqs, resources=-1)
        await self._resources.delete_one(
            {"_id": op["resource_ref_id"], "removed_by": seq}
        )
        return Outcome({"collection": collection, "resource": resource})

    async def _applied_remove_resource(self, seq: int, op: dict[str, Any]) -> bool:
        current = await self._resources.find_one(
            {"_id": op["resource_ref_id"]}, {"removed_by": 1}
        )
        if current is not None:
            return bool(current.get("removed_by") == seq)
        return await self._has_marker(self._collections, op["collection_id"], seq)

    # Promotion ----------------------------------------------------------

    async def _apply_promote(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op, seq = ops[0], seqs[0]
        promotion = op["promotion"]
        if op.get("claim_version") is not None:
            await self._claim_held_promotion(promotion, op["claim_version"], seq)
        else:
            await self._insert_once(
                self._promotions, promotion, "This idempotency key is already in use."
            )
        if op.get("target_doc") is not None:
            target = {**op["target_doc"], MARKERS: seqs}
            await self._insert_once(
                self._collections,
                target,
                "The target collection was created meanwhile; retry the promotion.",
            )
            await self._count(
                target["project_id"], target["environment"], seqs, collections=1
            )
        else:
            update = {**op["update"], "version": None}
            await self._apply_update_collection(seqs, [update])
        target_id = promotion["target_id"]

        if op["resources"]:
            docs = [{**doc, "event_seq": seq} for doc in op["resources"]]
            try:
                await self._resources.insert_many(docs)
            except BulkWriteError as exc:
                # Present already (a retry, or added meanwhile): promotion only adds.
                if any(
                    e.get("code") != DUPLICATE_KEY for e in exc.details["writeErrors"]
                ):
                    raise
            added = await self._resources.count(
                {"collection_id": target_id, "event_seq": seq}
            )
            marker = [-seq]
            await self._collections.update_one(
                {"_id": target_id, **not_applied(marker)},
                {"$inc": {"resource_count": added}, "$push": push(marker)},
            )
            await self._count(
                promotion["project_id"],
                promotion["target_environment"],
                marker,
                resources=added,
            )

        if op.get("workflows"):
            try:
                await self._workflows.insert_many(op["workflows"])
            except BulkWriteError as exc:
                # A same-named workflow is there already: promotion only adds.
                if any(
                    e.get("code") != DUPLICATE_KEY for e in exc.details["writeErrors"]
                ):
                    raise

        done = {
            "status": "SUCCEEDED",
            "completed_at": utc_now(),
            "target_id": target_id,
            "created_target": promotion["created_target"],
            "changes": promotion["changes"],
        }
        await self._promotions.update_one({"_id": promotion["_id"]}, {"$set": done})
        return Outcome({"promotion": {**promotion, **done}})

    async def _claim_held_promotion(
        self, promotion: dict[str, Any], version: int, seq: int
    ) -> None:
        """Move a promotion that waited for approval on; only one approval does."""
        claimed = await self._promotions.find_one_and_update(
            {
                "_id": promotion["_id"],
                "status": "PENDING_APPROVAL",
                "version": version,
                **not_applied([seq]),
            },
            {
                "$set": {"status": "IN_PROGRESS", "approvals": promotion["approvals"]},
                "$inc": {"version": 1},
                "$push": push([seq]),
            },
            projection={"_id": 1},
        )
        if claimed is None and not await self._has_marker(
            self._promotions, promotion["_id"], seq
        ):
            raise ConflictError("The promotion changed meanwhile; reload it and retry.")

    async def _applied_promote(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._promotions.find_one(
            {"_id": op["promotion"]["_id"]}, {"_id": 1}
        )
        return found is not None
