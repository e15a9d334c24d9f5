"""The domain services of one process, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass

from gql_service.events.hub import EventHub, HubOptions
from gql_service.events.log import EventLog
from gql_service.services.audit import AuditService
from gql_service.services.catalog import CatalogService
from gql_service.services.projects import ProjectService
from gql_service.services.promotion import PromotionService
from gql_service.services.resources import ResourceService
from gql_service.storage.store import Store


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


def build_services(
    store: Store,
    max_bulk_resources: int = 1000,
    hub_options: HubOptions | None = None,
    lease_seconds: float = 15.0,
) -> Services:
    log = EventLog(store.events, store.changes, lease_seconds=lease_seconds)
    projects = ProjectService(store, log)
    catalog = CatalogService(store, log, projects)
    return Services(
        store=store,
        log=log,
        hub=EventHub(store, log, hub_options),
        projects=projects,
        catalog=catalog,
        resources=ResourceService(store, log, max_bulk_resources),
        promotions=PromotionService(store, log, catalog),
        audit=AuditService(store),
    )
