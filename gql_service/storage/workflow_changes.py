"""Writes for workflows, runs and reviewed promotions (see storage.changes)."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from gql_service.errors import ConflictError, NotFoundError
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.markers import FIELD as MARKERS
from gql_service.storage.markers import HIDDEN, not_applied, push
from gql_service.storage.outcome import Outcome


class WorkflowChanges:
    """Mixed into ChangeApplier; each ``_apply_<kind>`` handles one operation."""

    _workflows: StoreCollection
    _runs: StoreCollection
    _promotions: StoreCollection

    async def _guarded_update(
        self,
        target: StoreCollection,
        doc_id: Any,
        seqs: list[int],
        op: dict[str, Any],
        missing: str,
    ) -> dict[str, Any]:
        """$set (and $push) if the document still matches ``expect``; idempotent."""
        update: dict[str, Any] = {"$set": op["set"], "$push": push(seqs)}
        for field, value in (op.get("push") or {}).items():
            update["$push"][field] = value
        if op.get("inc"):
            update["$inc"] = op["inc"]
        doc = await target.find_one_and_update(
            {"_id": doc_id, **(op.get("expect") or {}), **not_applied(seqs)},
            update,
            projection=HIDDEN,
        )
        if doc is not None:
            return doc
        current = await target.find_one({"_id": doc_id}, {MARKERS: 1})
        if current is None:
            raise NotFoundError(missing)
        if seqs[0] in (current.get(MARKERS) or []):
            found = await target.find_one({"_id": doc_id}, HIDDEN)
            assert found is not None
            return found
        raise ConflictError(
            op.get("conflict") or "It changed meanwhile; reload and retry."
        )

    async def _apply_insert_workflow(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        doc = {**ops[0]["doc"], MARKERS: seqs}
        try:
            await self._workflows.insert_one(doc)
        except DuplicateKeyError as exc:
            if await self._workflows.find_one({"_id": doc["_id"]}, {"_id": 1}) is None:
                raise ConflictError(
                    "A workflow named {!r} already exists here.".format(doc["name"])
                ) from exc
        return Outcome({"workflow": doc})

    async def _applied_insert_workflow(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._workflows.find_one({"_id": op["doc"]["_id"]}, {"_id": 1})
        return found is not None

    async def _apply_update_workflow(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op = ops[0]
        try:
            doc = await self._guarded_update(
                self._workflows, op["workflow_id"], seqs, op, "No such workflow."
            )
        except DuplicateKeyError as exc:
            raise ConflictError(
                "A workflow with that name already exists here."
            ) from exc
        return Outcome({"workflow": doc})

    async def _applied_update_workflow(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._workflows.find_one({"_id": op["workflow_id"], MARKERS: seq})
        return found is not None

    async def _apply_delete_workflow(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        await self._workflows.delete_one({"_id": ops[0]["workflow_id"]})
        return Outcome({})

    async def _applied_delete_workflow(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._workflows.find_one({"_id": op["workflow_id"]}, {"_id": 1})
        return found is None

    async def _apply_insert_run(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        doc = {**ops[0]["doc"], MARKERS: seqs}
        try:
            await self._runs.insert_one(doc)
        except DuplicateKeyError as exc:
            if await self._runs.find_one({"_id": doc["_id"]}, {"_id": 1}) is None:
                # Another process already started a run for this trigger.
                raise ConflictError("A run for this trigger exists.") from exc
        return Outcome({"run": doc})

    async def _applied_insert_run(self, seq: int, op: dict[str, Any]) -> bool:
        return (
            await self._runs.find_one({"_id": op["doc"]["_id"]}, {"_id": 1}) is not None
        )

    async def _apply_update_run(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op = ops[0]
        doc = await self._guarded_update(
            self._runs, op["run_id"], seqs, op, "No such workflow run."
        )
        return Outcome({"run": doc})

    async def _applied_update_run(self, seq: int, op: dict[str, Any]) -> bool:
        return (
            await self._runs.find_one({"_id": op["run_id"], MARKERS: seq}) is not None
        )

    async def _apply_insert_promotion(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        doc = {**ops[0]["promotion"], MARKERS: seqs}
        try:
            await self._promotions.insert_one(doc)
        except DuplicateKeyError as exc:
            if await self._promotions.find_one({"_id": doc["_id"]}, {"_id": 1}) is None:
                raise ConflictError("This idempotency key is already in use.") from exc
        return Outcome({"promotion": doc})

    async def _applied_insert_promotion(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._promotions.find_one(
            {"_id": op["promotion"]["_id"]}, {"_id": 1}
        )
        return found is not None

    async def _apply_update_promotion(
        self, seqs: list[int], ops: list[dict[str, Any]]
    ) -> Outcome:
        op = ops[0]
        doc = await self._guarded_update(
            self._promotions, op["promotion_id"], seqs, op, "No such promotion."
        )
        return Outcome({"promotion": doc})

    async def _applied_update_promotion(self, seq: int, op: dict[str, Any]) -> bool:
        found = await self._promotions.find_one(
            {"_id": op["promotion_id"], MARKERS: seq}
        )
        return found is not None
