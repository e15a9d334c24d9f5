"""The domain services of one process, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass

from gql_service.services.catalog import CatalogService
from gql_service.services.projects import ProjectService
from gql_service.services.promotion import PromotionService
from gql_service.services.resources import ResourceService
from gql_service.storage.store import Store


@dataclass(slots=True)
class Services:
    store: Store
    projects: ProjectService
    catalog: CatalogService
    resources: ResourceService
    promotions: PromotionService


def build_services(store: Store, max_bulk_resources: int = 1000) -> Services:
    projects = ProjectService(store)
    catalog = CatalogService(store, projects)
    return Services(
        store=store,
        projects=projects,
        catalog=catalog,
        resources=ResourceService(store, max_bulk_resources),
        promotions=PromotionService(store, catalog),
    )
