"""Live state, cost and drift for batches of references, read from Vultr.

Vultr has no batch lookup by id, and a get per resource would cost one
request each (200 instances, 200 requests, seven seconds at the rate
limit). Instead each needed kind is listed once, all pages, and every key
of the batch is answered from that list. Lists stay fresh for a short TTL
and plan catalogues, which change rarely, for an hour; both are shared by
every request of the process, and concurrent misses share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gql_service.config import Settings
from gql_service.domain.models import ResourceType, utc_now
from gql_service.errors import VultrNotConfiguredError
from gql_service.vultr.cache import SharedCache
from gql_service.vultr.client import VultrApiError, VultrClient
from gql_service.vultr.cost import (
    PLAN_PRICED_TYPES,
    CostSummary,
    PlanCatalog,
    monthly_cost,
    summarize,
)
from gql_service.vultr.drift import DriftItem, DriftRef, find_drift
from gql_service.vultr.endpoints import VultrKind, item_id, lookup_id
from gql_service.vultr.resources import (
    TAGGABLE_TYPES,
    LiveState,
    live_state,
    missing_state,
    spec_for,
)

logger = logging.getLogger(__name__)

ResourceKey = tuple[ResourceType, str]

PLAN_TTL_SECONDS = 3600.0
_PLANS = "plans"


@dataclass(frozen=True, slots=True)
class KindSnapshot:
    """One kind's full list, keyed by id, and when Vultr gave it."""

    items: dict[str, dict[str, Any]]
    checked_at: datetime


class VultrInventory:
    """Answers batches of references from per-kind lists, cached briefly."""

    def __init__(
        self,
        client: VultrClient,
        *,
        ttl_seconds: float = 30.0,
        plan_ttl_seconds: float = PLAN_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.plan_ttl_seconds = plan_ttl_seconds
        self._clock = clock
        self._lists: SharedCache[VultrKind, KindSnapshot] = SharedCache(clock)
        self._plans: SharedCache[str, PlanCatalog] = SharedCache(clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> VultrInventory | None:
        """The process's inventory, or None when no Vultr API key is configured."""
        client = VultrClient.from_settings(settings)
        if client is None:
            return None
        return cls(client, ttl_seconds=settings.vultr_cache_ttl_seconds)

    async def aclose(self) -> None:
        await self.client.aclose()

    def invalidate(self, kind: VultrKind | None = None) -> None:
        """Forget cached lists, e.g. after starting or halting an instance."""
        self._lists.invalidate(kind)

    async def live_states(
        self, keys: Iterable[ResourceKey], *, refresh_missing: bool = False
    ) -> dict[ResourceKey, LiveState | None]:
        """Live state per key; None for a type Vultr cannot look up.

        With ``refresh_missing`` a key absent from a cached list is looked
        for again in a fresh list, so that a resource created a moment ago
        is not reported missing (use it when validating adds). Raises the
        first failure of any list it needed.
        """
        answers = await self.live_states_by_kind(keys, refresh_missing=refresh_missing)
        states: dict[ResourceKey, LiveState | None] = {}
        for key, answer in answers.items():
            if isinstance(answer, VultrApiError):
                raise answer
            states[key] = answer
        return states

    async def live_states_by_kind(
        self, keys: Iterable[ResourceKey], *, refresh_missing: bool = False
    ) -> dict[ResourceKey, LiveState | VultrApiError | None]:
        """As live_states, but a list that fails fails only its own kind's keys:
        the error stands in their place, every other key is answered."""
        keys = list(dict.fromkeys(keys))
        started = self._clock()
        snapshots, failed = await self._snapshots_each(_kinds(keys))
        if refresh_missing:
            stale = self._stale_kinds_missing(keys, snapshots, started)
            for kind in stale:
                self._lists.invalidate(kind)
            fresh, failed_again = await self._snapshots_each(stale)
            snapshots.update(fresh)
            failed.update(failed_again)
        plans = await self._plans_if_needed(keys, degrade=True)
        answers: dict[ResourceKey, LiveState | VultrApiError | None] = {}
        for key in keys:
            spec = spec_for(key[0])
            if spec is not None and spec.kind in failed:
                answers[key] = failed[spec.kind]
            else:
                answers[key] = _state(key, snapshots, plans)
        return answers

    async def cost_summary(self, keys: Iterable[ResourceKey]) -> CostSummary:
        """Monthly cost of the distinct resources among ``keys`` (see cost.py)."""
        keys = list(dict.fromkeys(keys))
        snapshots = await self._snapshots(_kinds(keys))
        plans = await self._plans_if_needed(keys, degrade=False)
        return summarize((key[0], _cost(key, snapshots, plans)) for key in keys)

    async def drift(
        self, collection_tag: str, refs: Iterable[DriftRef]
    ) -> list[DriftItem]:
        """Drift between the references and Vultr (see drift.py)."""
        refs = list(refs)
        referenced = _kinds((ref.resource_type, ref.resource_id) for ref in refs)
        taggable = {spec.kind for t in TAGGABLE_TYPES if (spec := spec_for(t))}
        snapshots = await self._snapshots(referenced | taggable)
        items = {
            resource_type: snapshots[spec.kind].items
            for resource_type in ResourceType
            if (spec := spec_for(resource_type)) and spec.kind in snapshots
        }
        return find_drift(collection_tag, refs, items)

    async def _snapshots(
        self, kinds: Iterable[VultrKind]
    ) -> dict[VultrKind, KindSnapshot]:
        kinds = sorted(set(kinds))
        loaded = await asyncio.gather(*(self._snapshot(kind) for kind in kinds))
        return dict(zip(kinds, loaded, strict=True))

    async def _snapshots_each(
        self, kinds: Iterable[VultrKind]
    ) -> tuple[dict[VultrKind, KindSnapshot], dict[VultrKind, VultrApiError]]:
        """The lists that loaded, and the Vultr failure of each that did not."""
        kinds = sorted(set(kinds))
        loaded = await asyncio.gather(
            *(self._snapshot(kind) for kind in kinds), return_exceptions=True
        )
        snapshots: dict[VultrKind, KindSnapshot] = {}
        failed: dict[VultrKind, VultrApiError] = {}
        for kind, outcome in zip(kinds, loaded, strict=True):
            if isinstance(outcome, VultrApiError):
                failed[kind] = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                snapshots[kind] = outcome
        return snapshots, failed

    async def _snapshot(self, kind: VultrKind) -> KindSnapshot:
        async def load() -> KindSnapshot:
            items = await self.client.list_all(kind)
            logger.debug("Listed %d %s from Vultr", len(items), kind.value)
            by_id = {key: item for item in items if (key := item_id(kind, item))}
            return KindSnapshot(by_id, utc_now())

        return await self._lists.get(kind, self.ttl_seconds, load)

    async def _plans_if_needed(
        self, keys: list[ResourceKey], *, degrade: bool
    ) -> PlanCatalog:
        if not any(key[0] in PLAN_PRICED_TYPES for key in keys):
            return PlanCatalog({})

        async def load() -> PlanCatalog:
            return PlanCatalog.from_items(await self.client.list_plan_items())

        try:
            return await self._plans.get(_PLANS, self.plan_ttl_seconds, load)
        except VultrApiError as exc:
            if not degrade:
                raise
            # Live state without a price beats no live state at all.
            logger.warning("Vultr plan prices unavailable: %s", exc.message)
            return PlanCatalog({})

    def _stale_kinds_missing(
        self,
        keys: list[ResourceKey],
        snapshots: dict[VultrKind, KindSnapshot],
        started: float,
    ) -> set[VultrKind]:
        stale: set[VultrKind] = set()
        for resource_type, resource_id in keys:
            spec = spec_for(resource_type)
            if (
                spec is None
                or spec.kind not in snapshots
                or lookup_id(spec.kind, resource_id) in snapshots[spec.kind].items
            ):
                continue
            loaded_at = self._lists.loaded_at(spec.kind)
            if loaded_at is not None and loaded_at < started:
                stale.add(spec.kind)
        return stale


def build_inventory(settings: Settings) -> VultrInventory | None:
    """Build once per process (it owns the HTTP pool); close with aclose()."""
    return VultrInventory.from_settings(settings)


def require_inventory(inventory: VultrInventory | None) -> VultrInventory:
    if inventory is None:
        raise VultrNotConfiguredError(
            "No Vultr API key is configured (GQL_SERVICE_VULTR_API_KEY)"
        )
    return inventory


def _kinds(keys: Iterable[ResourceKey]) -> set[VultrKind]:
    return {spec.kind for resource_type, _ in keys if (spec := spec_for(resource_type))}


def _find(
    key: ResourceKey, snapshots: dict[VultrKind, KindSnapshot]
) -> tuple[dict[str, Any] | None, KindSnapshot] | None:
    spec = spec_for(key[0])
    if spec is None:
        return None
    snapshot = snapshots[spec.kind]
    return snapshot.items.get(lookup_id(spec.kind, key[1])), snapshot


def _state(
    key: ResourceKey, snapshots: dict[VultrKind, KindSnapshot], plans: PlanCatalog
) -> LiveState | None:
    spec = spec_for(key[0])
    found = _find(key, snapshots)
    if spec is None or found is None:
        return None
    item, snapshot = found
    if item is None:
        return missing_state(snapshot.checked_at)
    cost = monthly_cost(key[0], item, plans)
    return live_state(spec, item, snapshot.checked_at, cost)


def _cost(
    key: ResourceKey, snapshots: dict[VultrKind, KindSnapshot], plans: PlanCatalog
) -> Decimal | None:
    found = _find(key, snapshots)
    if found is None or found[0] is None:
        return None
    return monthly_cost(key[0], found[0], plans)
