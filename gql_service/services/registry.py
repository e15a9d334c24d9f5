"""The domain services of one process, built once at startup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from gql_service.events.hub import EventHub, HubOptions
from gql_service.events.log import EventLog
from gql_service.services.audit import AuditService
from gql_service.services.catalog import CatalogService
from gql_service.services.projects import ProjectService
from gql_service.services.promotion import PromotionService
from gql_service.services.resources import ResourceService
from gql_service.services.workflows import WorkflowService
from gql_service.storage.store import Store
from gql_service.vultr.live import VultrInventory
from gql_service.workflows.runs import RunRecorder


@dataclass(slots=True)
class Services:
    store: Store
    log: EventLog
    hub: EventHub
    projects: ProjectService
    catalog: CatalogService
    resources: ResourceService
    promotions: PromotionService
    audit: AuditService
    recorder: RunRecorder
    workflows: WorkflowService
    # The Vultr inventory; None without an API key.
    vultr: VultrInventory | None = None
    # Set when this process runs workflows; mutations nudge it to look now.
    runner_wake: Callable[[], None] = field(default=lambda: None)


def build_services(
    store: Store,
    max_bulk_resources: int = 1000,
    hub_options: HubOptions | None = None,
    lease_seconds: float = 15.0,
    approval_window: timedelta = timedelta(hours=72),
    vultr: VultrInventory | None = None,
) -> Services:
    log = EventLog(store.events, store.changes, lease_seconds=lease_seconds)
    projects = ProjectService(store, log)
    catalog = CatalogService(store, log, projects)
    recorder = RunRecorder(store, log)
    return Services(
        store=store,
        log=log,
        hub=EventHub(store, log, hub_options),
        projects=projects,
        catalog=catalog,
        resources=ResourceService(store, log, max_bulk_resources, vultr),
        promotions=PromotionService(store, log, catalog, approval_window),
        audit=AuditService(store),
        recorder=recorder,
        workflows=WorkflowService(store, log, recorder),
        vultr=vultr,
    )
