"""The demo data set: the seed's ecommerce-platform example and a second project."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from gql_service.auth.principal import Principal
from gql_service.domain.models import Grant, ResourceType
from gql_service.domain.roles import Role
from gql_service.domain.workflows import (
    ApprovalAction,
    Conditions,
    DeployAction,
    DeployStrategy,
    HealthCheckAction,
    NotificationAction,
    NotificationChannel,
    WorkflowTrigger,
)
from gql_service.services.access import Access
from gql_service.services.catalog import NewCollection
from gql_service.services.projects import NewProject
from gql_service.services.registry import Services
from gql_service.services.resources import AddResult, AddStatus, NewResource
from gql_service.services.workflows import WorkflowSpec
from gql_service.vultr.drift import collection_tag

logger = logging.getLogger(__name__)

TEAM_LEAD = "team-lead@company.com"
DEVELOPER = "developer@company.com"
STAKEHOLDER = "stakeholder@company.com"
DEVOPS = "devops@company.com"
DATA_LEAD = "data-lead@company.com"
ADMIN = "admin@company.com"

# Who the printed demo tokens are for, and whether they are admins.
DEMO_USERS = [
    (TEAM_LEAD, False),
    (DEVELOPER, False),
    (STAKEHOLDER, False),
    (DEVOPS, False),
    (DATA_LEAD, False),
    (ADMIN, True),
]

WEB_APP_STAGES = [
    ("development", ["dev-web-1"]),
    ("staging", ["stage-web-1", "stage-web-2"]),
    ("production", ["prod-web-1", "prod-web-2", "prod-web-3"]),
]


ANALYTICS_STAGES = ("development", "production")


def demo_instance_id(label: str) -> str:
    """A stable Vultr-style UUID per demo label, so re-seeding matches."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, label + ".demo.example"))


@dataclass(frozen=True, slots=True)
class DemoVultrResource:
    """A resource of the demo as a Vultr account would hold it."""

    resource_type: ResourceType
    resource_id: str
    label: str
    region: str
    tag: str


def demo_vultr_resources() -> list[DemoVultrResource]:
    """What `gql-service fake-vultr` adds so the demo has live state: every
    resource the demo references, tagged with its collection, and one
    production instance tagged but not referenced (drift to find)."""
    web = [
        DemoVultrResource(
            ResourceType.INSTANCE,
            demo_instance_id(label),
            label,
            "ewr",
            collection_tag("ecommerce-platform", environment, "web-app"),
        )
        for environment, labels in [*WEB_APP_STAGES, ("production", ["prod-web-4"])]
        for label in labels
    ]
    databases = [
        DemoVultrResource(
            ResourceType.MANAGED_DATABASE,
            demo_instance_id(f"analytics-db-{environment}"),
            f"analytics-{environment}",
            "ord",
            collection_tag("data-platform", environment, "analytics-db"),
        )
        for environment in ANALYTICS_STAGES
    ]
    return web + databases


async def seed_demo(services: Services, hooks_url: str | None = None) -> bool:
    """Load the demo data; False when it is already there.

    With ``hooks_url`` (the demo receivers of ``serve --demo``) the production
    collection also gets the seed's Production Deployment workflow.
    """
    if await services.store.projects.get_by_name("ecommerce-platform") is not None:
        logger.info("Demo data already present")
        return False
    production = await _seed_ecommerce(services)
    await _seed_data_platform(services)
    if hooks_url:
        await _seed_deployment_workflow(services, production, hooks_url)
    logger.info("Demo data loaded: projects ecommerce-platform and data-platform")
    return True


async def _seed_ecommerce(services: Services) -> str:
    lead = Access(Principal(TEAM_LEAD), services.store)
    await services.projects.create(
        lead,
        NewProject(
            name="ecommerce-platform",
            description="Online shop: storefront, checkout and back office.",
            editors=[DEVELOPER],
            viewers=[STAKEHOLDER],
        ),
    )
    for environment, labels in WEB_APP_STAGES:
        collection = await services.catalog.create(
            lead,
            NewCollection(
                name="web-app",
                project="ecommerce-platform",
                environment=environment,
                description="Storefront web tier",
                region="ewr",
                tags=[("app", "web-app"), ("team", "storefront")],
            ),
        )
        items = []
        for number, label in enumerate(labels, start=1):
            tags = [("role", "web"), ("tier", "frontend")]
            if environment == "production":
                tags.append(("ha", f"node-{number}"))
            items.append(
                NewResource(
                    resource_type=ResourceType.INSTANCE,
                    resource_id=demo_instance_id(label),
                    resource_name=label,
                    tags=tags,
                    metadata={"plan": "vc2-1c-2gb", "os": "Ubuntu 24.04 LTS x64"},
                )
            )
        _, results = await services.resources.add_many(lead, collection.id, items)
        _note_left_out(results)
        if environment == "production":
            await services.catalog.update_permissions(
                lead, collection.id, [Grant(DEVOPS, Role.VIEWER)], []
            )
            production = collection.id
    return production


async def _seed_deployment_workflow(
    services: Services, collection_id: str, hooks_url: str
) -> None:
    """The seed's deployment workflow, pointed at the demo receivers."""
    lead = Access(Principal(TEAM_LEAD), services.store)
    spec = WorkflowSpec(
        name="Production Deployment",
        description="Notify, wait for DevOps, deploy blue/green, check health.",
        triggers=[WorkflowTrigger.ENVIRONMENT_PROMOTED],
        conditions=Conditions(target_environment="production"),
        actions=[
            NotificationAction(
                NotificationChannel.SLACK,
                hooks_url + "/slack",
                "Promotion of web-app to production is waiting for approval.",
            ),
            ApprovalAction((DEVOPS,), required_approvals=1, timeout_seconds=86400),
            DeployAction(DeployStrategy.BLUE_GREEN, hooks_url + "/deploy"),
            HealthCheckAction(
                hooks_url + "/health", timeout_seconds=60, interval_seconds=2
            ),
            NotificationAction(
                NotificationChannel.SLACK,
                hooks_url + "/slack",
                "web-app is live in production.",
            ),
        ],
        permissions=[],
        enabled=True,
    )
    await services.workflows.create(lead, collection_id, spec)


async def _seed_data_platform(services: Services) -> None:
    owner = Access(Principal(DATA_LEAD), services.store)
    await services.projects.create(
        owner,
        NewProject(
            name="data-platform",
            description="Analytics databases and ETL workers.",
            environments=["development", "staging", "production"],
            viewers=[TEAM_LEAD, STAKEHOLDER],
        ),
    )
    for environment in ANALYTICS_STAGES:
        collection = await services.catalog.create(
            owner,
            NewCollection(
                name="analytics-db",
                project="data-platform",
                environment=environment,
                description="Managed PostgreSQL for reporting",
                region="ord",
                tags=[("app", "analytics")],
                editors=[DEVELOPER],
            ),
        )
        database = NewResource(
            resource_type=ResourceType.MANAGED_DATABASE,
            resource_id=demo_instance_id(f"analytics-db-{environment}"),
            resource_name=f"analytics-{environment}",
            tags=[("engine", "pg")],
        )
        _, results = await services.resources.add_many(owner, collection.id, [database])
        _note_left_out(results)


def _note_left_out(results: list[AddResult]) -> None:
    """With a Vultr key, demo resources the account lacks are left out."""
    missing = [r for r in results if r.status is AddStatus.NOT_FOUND_IN_VULTR]
    if missing:
        logger.warning(
            "%d demo resources are not in the Vultr account and were left out "
            "(gql-service fake-vultr holds them all)",
            len(missing),
        )
