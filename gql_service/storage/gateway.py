"""A thin layer over each Motor collection: counts, yields and maps failures.

Every database command of the service passes through ``StoreCollection``.
That gives one place to count commands (the same count on the embedded store
and on a real server), to make each call yield to the event loop (the
embedded store never does, which would hide races in tests), to inject
faults, and to turn driver failures into SERVICE_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
)

from gql_service.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Document = dict[str, Any]
Filter = Mapping[str, Any]
SortSpec = Sequence[tuple[str, int]]


@dataclass(slots=True)
class CommandMeter:
    """Database commands and the time spent in them, for one scope."""

    commands: int = 0
    seconds: float = 0.0
    # Commands that failed (unreachable or refused), not uniqueness answers.
    errors: int = 0


current_meter: contextvars.ContextVar[CommandMeter | None] = contextvars.ContextVar(
    "current_meter", default=None
)


@dataclass(slots=True)
class GatewayOptions:
    # Yield to the event loop around every call so that concurrent requests
    # interleave as they would against a real server.
    yield_around_calls: bool = False
    # Called before every command with the collection and command names; may
    # raise, or return an awaitable (a delay), to inject a fault.
    fault: Callable[[str, str], Any] | None = None
    # An answer slower than this is SERVICE_UNAVAILABLE, whatever the driver
    # does; None leaves it to the driver's own timeouts.
    command_timeout: float | None = None
    totals: CommandMeter = field(default_factory=CommandMeter)


class StoreCollection:
    def __init__(self, raw: Any, options: GatewayOptions) -> None:
        self._raw = raw
        self._options = options
        self.name: str = raw.name

    async def _run(self, command: str, call: Callable[[], Awaitable[T]]) -> T:
        options = self._options
        if options.yield_around_calls:
            await asyncio.sleep(0)
        started = time.perf_counter()

        async def attempt() -> T:
            if options.fault is not None:
                injected = options.fault(self.name, command)
                if inspect.isawaitable(injected):
                    await injected
            return await call()

        try:
            if options.command_timeout is None:
                return await attempt()
            return await asyncio.wait_for(attempt(), options.command_timeout)
        except TimeoutError as exc:
            options.totals.errors += 1
            logger.warning(
                "Database did not answer %s on %s in time", command, self.name
            )
            raise ServiceUnavailableError(
                "The database did not answer in time."
            ) from exc
        except (DuplicateKeyError, BulkWriteError):
            # Uniqueness answers: the repositories turn them into domain errors.
            raise
        except (ConnectionFailure, ServiceUnavailableError) as exc:
            options.totals.errors += 1
            logger.warning("Database unreachable during %s on %s", command, self.name)
            raise ServiceUnavailableError("The database is unavailable.") from exc
        except PyMongoError as exc:
            options.totals.errors += 1
            logger.error("Database command %s on %s failed", command, self.name)
            raise ServiceUnavailableError("The database command failed.") from exc
        finally:
            elapsed = time.perf_counter() - started
            options.totals.commands += 1
            options.totals.seconds += elapsed
            meter = current_meter.get()
            if meter is not None:
                meter.commands += 1
                meter.seconds += elapsed
            if options.yield_around_calls:
                await asyncio.sleep(0)

    async def find_one(
        self, query: Filter, projection: Mapping[str, Any] | None = None
    ) -> Document | None:
        return await self._run(
            "find_one", lambda: self._raw.find_one(query, projection)
        )

    async def find_many(
        self,
        query: Filter,
        *,
        sort: SortSpec | None = None,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        def call() -> Awaitable[list[Document]]:
            cursor = self._raw.find(query, projection)
            if sort:
                cursor = cursor.sort(list(sort))
            if limit:
                cursor = cursor.limit(limit)
            return cursor.to_list(length=None)  # type: ignore[no-any-return]

        return await self._run("find", call)

    async def count(self, query: Filter) -> int:
        return await self._run("count", lambda: self._raw.count_documents(query))

    async def insert_one(self, document: Document) -> None:
        await self._run("insert", lambda: self._raw.insert_one(document))

    async def insert_many(self, documents: list[Document]) -> None:
        await self._run(
            "insert", lambda: self._raw.insert_many(documents, ordered=False)
        )

    async def update_one(
        self, query: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> int:
        """Apply ``update`` to one match; return how many documents matched."""
        result = await self._run(
            "update", lambda: self._raw.update_one(query, update, upsert=upsert)
        )
        return int(result.matched_count) + (1 if result.upserted_id else 0)

    async def update_many(self, query: Filter, update: Mapping[str, Any]) -> int:
        result = await self._run("update", lambda: self._raw.update_many(query, update))
        return int(result.matched_count)

    async def find_one_and_update(
        self,
        query: Filter,
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
        projection: Mapping[str, Any] | None = None,
    ) -> Document | None:
        return await self._run(
            "find_and_modify",
            lambda: self._raw.find_one_and_update(
                query,
                update,
                projection=projection,
                upsert=upsert,
                return_document=ReturnDocument.AFTER,
            ),
        )

    async def delete_one(self, query: Filter) -> int:
        result = await self._run("delete", lambda: self._raw.delete_one(query))
        return int(result.deleted_count)

    async def delete_many(self, query: Filter) -> int:
        result = await self._run("delete", lambda: self._raw.delete_many(query))
        return int(result.deleted_count)

    async def create_index(self, keys: SortSpec, **options: Any) -> None:
        await self._run(
            "create_index", lambda: self._raw.create_index(list(keys), **options)
        )
