"""The store: every repository over one database, and its indexes."""

from __future__ import annotations

import logging

from gql_service.storage.changes import ChangeApplier
from gql_service.storage.counts import CountRepository
from gql_service.storage.database import Database
from gql_service.storage.events import EventRepository
from gql_service.storage.projects import ProjectRepository
from gql_service.storage.promotions import PromotionRepository
from gql_service.storage.resources import ResourceRepository
from gql_service.storage.service_collections import CollectionRepository
from gql_service.storage.tombstones import TombstoneRepository
from gql_service.storage.workflow_store import RunRepository, WorkflowRepository

logger = logging.getLogger(__name__)


class Store:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.projects = ProjectRepository(database.collection("projects"))
        self.collections = CollectionRepository(
            database.collection("service_collections")
        )
        self.resources = ResourceRepository(database.collection("resources"))
        self.counts = CountRepository(database.collection("environment_counts"))
        self.promotions = PromotionRepository(database.collection("promotions"))
        self.tombstones = TombstoneRepository(
            database.collection("collection_tombstones")
        )
        self.events = EventRepository(
            database.collection("events"), database.collection("counters")
        )
        self.changes = ChangeApplier(database)
        self.workflows = WorkflowRepository(database.collection("workflows"))
        self.runs = RunRepository(database.collection("workflow_runs"))

    async def create_indexes(self) -> None:
        """Every query and uniqueness rule has an index; creating one is idempotent."""
        db = self.database
        projects = db.collection("projects")
        await projects.create_index([("name", 1)], unique=True)
        await projects.create_index([("grants.subject", 1)])

        collections = db.collection("service_collections")
        await collections.create_index(
            [("project_id", 1), ("environment", 1), ("name", 1)], unique=True
        )
        await collections.create_index([("name", 1), ("_id", 1)])
        await collections.create_index([("project_id", 1), ("name", 1), ("_id", 1)])
        await collections.create_index([("grants.subject", 1)])
        await collections.create_index([("environment", 1), ("name", 1)])

        resources = db.collection("resources")
        await resources.create_index(
            [("collection_id", 1), ("resource_type", 1), ("resource_id", 1)],
            unique=True,
        )
        await resources.create_index([("collection_id", 1), ("_id", 1)])
        await resources.create_index([("collection_id", 1), ("tags.key", 1)])
        await resources.create_index([("event_seq", 1)])

        counts = db.collection("environment_counts")
        await counts.create_index([("project_id", 1), ("environment", 1)], unique=True)

        events = db.collection("events")
        await events.create_index([("state", 1), ("lease_until", 1)])
        await events.create_index([("project_id", 1), ("_id", -1)])
        await events.create_index([("collection_id", 1), ("_id", -1)])
        await db.collection("collection_tombstones").create_index([("readers", 1)])

        workflows = db.collection("workflows")
        await workflows.create_index([("collection_id", 1), ("name", 1)], unique=True)
        await workflows.create_index(
            [("enabled", 1), ("triggers", 1), ("next_run_at", 1)]
        )

        runs = db.collection("workflow_runs")
        await runs.create_index([("trigger_key", 1)], unique=True)
        await runs.create_index([("collection_id", 1), ("_id", -1)])
        await runs.create_index([("workflow_id", 1), ("_id", -1)])
        await runs.create_index([("status", 1), ("next_attempt_at", 1)])
        await runs.create_index([("status", 1), ("approvers", 1)])

        promotions = db.collection("promotions")
        await promotions.create_index(
            [("idempotency_scope", 1)], unique=True, sparse=True
        )
        await promotions.create_index([("project_id", 1), ("_id", -1)])
        await promotions.create_index([("source_id", 1)])
        await promotions.create_index([("target_id", 1)])
        await promotions.create_index([("status", 1), ("expires_at", 1)])
        await promotions.create_index([("status", 1), ("approvers", 1)])
        logger.info("Database indexes are in place")
