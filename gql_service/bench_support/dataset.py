"""A synthetic data set: projects x environments x collections x resources.

Written through the domain services, as the API writes, so every document
(events, counters and applied-event markers included) has the shape the
service itself produces. A spec such as ``10x4x5x50`` gives 10 projects with
4 environments each, 5 collections per environment and 50 resources per
collection: 10,000 resources.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from gql_service.auth.principal import Principal
from gql_service.domain.models import DEFAULT_ENVIRONMENTS, ResourceType
from gql_service.services.access import Access
from gql_service.services.catalog import NewCollection
from gql_service.services.projects import NewProject
from gql_service.services.registry import Services
from gql_service.services.resources import NewResource

logger = logging.getLogger(__name__)

# The owner of every project of the data set (not an admin, so that the
# bench pays for visibility checks like an ordinary user).
BENCH_SUBJECT = "bench-owner@example.com"
PROJECT_EDITORS = ("developer@example.com", "group:platform")
PROJECT_VIEWERS = ("stakeholder@example.com",)

SPEC = re.compile(r"^(\d{1,3})x(\d{1,2})x(\d{1,3})x(\d{1,4})$")
# (name, tier, resource type) of the collections of each environment, in order.
KINDS = (
    ("web", "frontend", ResourceType.INSTANCE),
    ("api", "backend", ResourceType.INSTANCE),
    ("worker", "backend", ResourceType.INSTANCE),
    ("db", "data", ResourceType.MANAGED_DATABASE),
    ("cache", "data", ResourceType.BLOCK_STORAGE),
)
PLANS = ("vc2-1c-2gb", "vc2-2c-4gb", "vhf-4c-16gb")
REGIONS = ("ewr", "ord", "ams", "fra")
ZONES = ("a", "b", "c")
# Resources per addResourcesToCollection call, under the smallest bulk limit
# anyone is likely to configure.
BULK = 100


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    projects: int
    environments: int
    collections: int
    resources: int

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        match = SPEC.match(text.strip())
        if match is None:
            raise ValueError("a data set is PxExCxR, e.g. 10x4x5x50")
        spec = cls(*(int(part) for part in match.groups()))
        if min(spec.projects, spec.environments, spec.collections) < 1:
            raise ValueError("projects, environments and collections must be >= 1")
        return spec

    @property
    def total_resources(self) -> int:
        return self.projects * self.environments * self.collections * self.resources

    def environment_names(self) -> list[str]:
        """The default path, longer with extra stages before production."""
        extra = [f"stage-{n}" for n in range(1, self.environments - 3)]
        path = [*DEFAULT_ENVIRONMENTS[:-1], *extra, DEFAULT_ENVIRONMENTS[-1]]
        if self.environments >= len(DEFAULT_ENVIRONMENTS):
            return path
        return list(DEFAULT_ENVIRONMENTS[-self.environments :])


def project_name(number: int) -> str:
    return f"project-{number:02d}"


def collection_name(number: int) -> str:
    kind = KINDS[number % len(KINDS)][0]
    return kind if number < len(KINDS) else f"{kind}-{number // len(KINDS)}"


def resource_items(
    project: int, environment: str, number: int, count: int
) -> list[NewResource]:
    kind, _tier, resource_type = KINDS[number % len(KINDS)]
    name = collection_name(number)
    items = []
    for index in range(count):
        label = f"{project_name(project)}/{environment}/{name}/{index}"
        metadata: dict[str, Any] = {
            "plan": PLANS[index % len(PLANS)],
            "os": "Ubuntu 24.04 LTS x64",
            "owner": f"team-{project % 3}@example.com",
            "labels": {"app": name, "env": environment},
            "ports": [80, 443],
            "monitoring": index % 2 == 0,
        }
        items.append(
            NewResource(
                resource_type=resource_type,
                resource_id=str(uuid.uuid5(uuid.NAMESPACE_URL, label)),
                resource_name=f"{name}-{environment[:4]}-{index:03d}",
                tags=[
                    ("role", kind),
                    ("zone", ZONES[index % len(ZONES)]),
                    ("ha", "true" if index % 2 else "false"),
                    ("index", str(index)),
                ],
                metadata=metadata,
            )
        )
    return items


async def load_dataset(services: Services, spec: DatasetSpec) -> None:
    """Write the data set; run it before the indexes exist (see below).

    The embedded store checks a unique index by scanning every document on
    each insert, which makes a bulk load quadratic. Loaded before
    ``Runtime.start`` creates the indexes, the same writes take seconds, and
    creating the indexes afterwards still checks their uniqueness.
    """
    started = time.perf_counter()
    owner = Access(Principal(BENCH_SUBJECT), services.store)
    environments = spec.environment_names()
    for project in range(spec.projects):
        await services.projects.create(
            owner,
            NewProject(
                name=project_name(project),
                description=f"Bench project {project}",
                environments=environments,
                editors=PROJECT_EDITORS,
                viewers=PROJECT_VIEWERS,
            ),
        )
        for environment in environments:
            for number in range(spec.collections):
                await _load_collection(
                    services, owner, spec, project, environment, number
                )
    logger.info(
        "Bench data set %s loaded: %d resources in %.1f s",
        spec,
        spec.total_resources,
        time.perf_counter() - started,
    )


async def _load_collection(
    services: Services,
    owner: Access,
    spec: DatasetSpec,
    project: int,
    environment: str,
    number: int,
) -> None:
    _kind, tier, _type = KINDS[number % len(KINDS)]
    name = collection_name(number)
    collection = await services.catalog.create(
        owner,
        NewCollection(
            name=name,
            project=project_name(project),
            environment=environment,
            description=f"{name} of {project_name(project)} in {environment}",
            region=REGIONS[project % len(REGIONS)],
            tags=[("app", name), ("tier", tier), ("team", f"team-{project % 3}")],
        ),
    )
    items = resource_items(project, environment, number, spec.resources)
    for start in range(0, len(items), BULK):
        await services.resources.add_many(
            owner, collection.id, items[start : start + BULK]
        )
