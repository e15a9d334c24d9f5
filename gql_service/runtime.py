"""Everything one service process holds: store, services, token verifier."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from gql_service.auth.local_secret import load_or_create_secret
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.events.hub import HubOptions
from gql_service.outbound.http import OutboundClient
from gql_service.services.registry import Services, build_services
from gql_service.storage.database import Database, open_embedded, open_mongodb
from gql_service.storage.gateway import GatewayOptions
from gql_service.storage.store import Store
from gql_service.vultr.live import build_inventory
from gql_service.workflows.actions import StepExecutor
from gql_service.workflows.runner import Runner
from gql_service.workflows.scheduler import Scheduler
from gql_service.workflows.triggers import TriggerDispatcher

logger = logging.getLogger(__name__)


class ConfigurationError(Exception):
    """A setting that prevents startup; the message names it."""


def open_database(
    settings: Settings, options: GatewayOptions | None = None
) -> Database:
    if settings.mongodb_uri is None:
        logger.info(
            "Using the embedded in-process store (mongomock-motor): data lives only "
            "as long as this process; set GQL_SERVICE_MONGODB_URI for MongoDB"
        )
        return open_embedded(settings.mongodb_database, options)
    logger.info("Using MongoDB database %s", settings.mongodb_database)
    return open_mongodb(
        settings.mongodb_uri.get_secret_value(),
        settings.mongodb_database,
        settings.mongodb_timeout_ms,
        options,
    )


def signing_secret(settings: Settings) -> str | None:
    """The HS256 secret: configured, or created locally for the embedded store."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    if settings.jwks_url is not None:
        return None
    if settings.uses_embedded_store:
        return load_or_create_secret(settings.secret_file)
    raise ConfigurationError(
        "GQL_SERVICE_JWT_SECRET or GQL_SERVICE_JWKS_URL is required "
        "when GQL_SERVICE_MONGODB_URI is set"
    )


def build_verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(
        secret=signing_secret(settings),
        jwks_url=str(settings.jwks_url) if settings.jwks_url else None,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
    )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: Database
    store: Store
    services: Services
    verifier: TokenVerifier
    outbound: OutboundClient
    runner: Runner | None
    # A database handed in (tests, several apps over one store) stays open.
    owns_database: bool = True

    async def start(
        self, *, demo: bool = False, hub: bool = True, hooks_url: str | None = None
    ) -> None:
        await self.store.create_indexes()
        if demo:
            from gql_service.demo import seed_demo

            await seed_demo(self.services, hooks_url)
        if hub:
            await self.services.hub.start()
        if hub and self.runner is not None:
            await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        await self.services.hub.stop()
        await self.outbound.aclose()
        if self.services.vultr is not None:
            await self.services.vultr.aclose()
        if self.owns_database:
            self.database.close()


def build_runtime(
    settings: Settings,
    *,
    database: Database | None = None,
    verifier: TokenVerifier | None = None,
) -> Runtime:
    owns_database = database is None
    database = database or open_database(settings)
    store = Store(database)
    services = build_services(
        store,
        settings.max_bulk_resources,
        HubOptions(
            poll_interval=settings.event_poll_seconds,
            queue_size=settings.subscription_queue_size,
        ),
        approval_window=timedelta(hours=settings.promotion_approval_hours),
        vultr=build_inventory(settings),
    )
    outbound = OutboundClient(
        allow_private=settings.outbound_allow_private,
        signing_secret=settings.webhook_secret.get_secret_value()
        if settings.webhook_secret
        else None,
    )
    runner = (
        build_runner(settings, services, outbound) if settings.run_workflows else None
    )
    return Runtime(
        settings=settings,
        database=database,
        store=store,
        services=services,
        verifier=verifier or build_verifier(settings),
        outbound=outbound,
        runner=runner,
        owns_database=owns_database,
    )


def build_runner(
    settings: Settings, services: Services, outbound: OutboundClient
) -> Runner:
    """The workflow engine of this process, wired to the event feed."""
    store = services.store
    triggers = TriggerDispatcher(store, services.recorder)
    services.hub.consumers.append(triggers.on_event)
    services.hub.catch_ups.append(triggers.catch_up)
    services.hub.flushes.append(triggers.flush)
    runner = Runner(
        store,
        services.recorder,
        StepExecutor(settings, outbound, services.vultr),
        Scheduler(store, services.recorder),
        lease_seconds=settings.workflow_lease_seconds,
        poll_seconds=settings.workflow_poll_seconds,
        expire_promotions=services.promotions.expire_due,
    )
    services.runner_wake = runner.wake
    services.log.listeners.append(runner.wake)
    return runner
