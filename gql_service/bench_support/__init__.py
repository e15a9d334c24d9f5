"""Bench-only pieces of the service, used by ``make bench`` and nothing else.

Imported and mounted only when ``GQL_SERVICE_BENCH_DATASET`` is set: a
synthetic data set loaded at startup and plain-JSON baseline endpoints that
read the same store with as few commands as possible.
"""

from __future__ import annotations

from starlette.routing import Route

from gql_service.bench_support.baseline import Baseline
from gql_service.bench_support.dataset import DatasetSpec, load_dataset
from gql_service.runtime import Runtime


class BenchMode:
    def __init__(self, runtime: Runtime, dataset: str) -> None:
        self._runtime = runtime
        self.spec = DatasetSpec.parse(dataset)

    def routes(self) -> list[Route]:
        return Baseline(self._runtime.store, self._runtime.verifier).routes()

    async def load(self) -> None:
        """Load the data set; call it before ``Runtime.start`` (see load_dataset)."""
        await load_dataset(self._runtime.services, self.spec)
