"""Where a scenario's time goes: cProfile over the app, in process.

Builds the service as `make bench` runs it (same data set, same settings,
without the event hub and workflow runner), sends one scenario's request
over and over through httpx's ASGI transport for a bounded time, and prints
the self time per layer and the costliest functions. No network at all.

    .venv/bin/python -m bench.profile_api --scenario detail --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from typing import Any

import httpx

from bench import scenarios
from bench.server import SECRET
from gql_service.app import create_app
from gql_service.auth.tokens import issue_token
from gql_service.bench_support.dataset import BENCH_SUBJECT, DatasetSpec, load_dataset
from gql_service.config import Settings
from gql_service.runtime import build_runtime

# Path fragment -> layer, first match wins.
LAYERS = (
    ("mongomock", "embedded store (mongomock)"),
    ("/bson/", "bson"),
    ("/pymongo/", "pymongo"),
    ("gql_service/storage/", "service: storage layer"),
    ("gql_service/api/", "service: GraphQL types and resolvers"),
    ("gql_service/services/", "service: domain services"),
    ("gql_service/", "service: other"),
    ("/strawberry/", "strawberry"),
    ("/graphql/", "graphql-core"),
    ("/starlette/", "starlette"),
    ("/httpx/", "httpx client (in process)"),
    ("/httpcore/", "httpx client (in process)"),
    ("/opentelemetry/", "opentelemetry"),
    ("/prometheus_client/", "prometheus client"),
    ("/jwt/", "PyJWT"),
    ("/json/", "json"),
    ("/asyncio/", "asyncio"),
    ("/pydantic", "pydantic"),
)


def layer_of(path: str) -> str:
    for fragment, layer in LAYERS:
        if fragment in path:
            return layer
    return "builtins" if path == "~" else "other (stdlib, C calls)"


def target_for(name: str, collection_id: str) -> scenarios.Target:
    if name == "dashboard":
        return scenarios.graphql("dashboard", scenarios.DASHBOARD, {"first": 10})
    if name == "detail":
        return scenarios.graphql("detail", scenarios.DETAIL, {"id": collection_id})
    if name == "search":
        return scenarios.graphql("search", scenarios.SEARCH, scenarios.SEARCH_VARIABLES)
    if name == "baseline-detail":
        raw = scenarios.raw_id(collection_id)
        return scenarios.Target("baseline", "GET", f"/bench/baseline/collections/{raw}")
    raise ValueError(name)


async def profile(
    scenario: str, dataset: str, seconds: float, top: int, dump: str | None
) -> None:
    settings = Settings(
        jwt_secret=SECRET,  # type: ignore[arg-type]
        bench_dataset=dataset,
        expose_db_metrics=True,
        rate_limit_per_second=0,
        log_level="WARNING",
    )
    runtime = build_runtime(settings)
    # Loaded as the lifespan does, but the event hub and the workflow runner
    # stay off: their polling is background work, which `make bench` reports
    # as the service's idle CPU.
    await load_dataset(runtime.services, DatasetSpec.parse(dataset))
    await runtime.store.create_indexes()
    app = create_app(runtime)
    token = issue_token(SECRET, BENCH_SUBJECT, ttl_seconds=3600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers=headers
    ) as client:
        found = await client.post(
            "/graphql",
            json={"query": scenarios.FIND, "variables": {"environment": "production"}},
        )
        collection_id = found.json()["data"]["collections"]["nodes"][0]["id"]
        target = target_for(scenario, collection_id)
        for _ in range(5):
            await client.request(target.method, target.path, content=target.body)

        profiler = cProfile.Profile()
        count, deadline = 0, time.perf_counter() + seconds
        started = time.perf_counter()
        profiler.enable()
        while time.perf_counter() < deadline and count < 100_000:
            response = await client.request(
                target.method, target.path, content=target.body
            )
            count += 1
        profiler.disable()
        elapsed = time.perf_counter() - started
    if response.status_code != 200 or b'"errors"' in response.content:
        raise RuntimeError(response.text[:400])
    if dump:
        profiler.dump_stats(dump)
    report(profiler, scenario, count, elapsed, top)


def report(
    profiler: cProfile.Profile, scenario: str, count: int, elapsed: float, top: int
) -> None:
    stats: Any = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())
    per_layer: dict[str, float] = defaultdict(float)
    for (path, _line, _name), entry in stats.stats.items():
        per_layer[layer_of(path)] += entry[2]
    print(
        f"{scenario}: {count} requests in {elapsed:.1f} s under cProfile "
        f"({1000 * elapsed / count:.1f} ms each, profiler overhead included)"
    )
    print("\nself time by layer:")
    for layer, spent in sorted(per_layer.items(), key=lambda item: -item[1]):
        print(f"  {100 * spent / total:5.1f} %  {layer}")
    print(f"\ntop {top} functions by self time:")
    stats.sort_stats("tottime").print_stats(top)
    print(f"top {top} functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        choices=["dashboard", "detail", "search", "baseline-detail"],
        default="detail",
    )
    parser.add_argument("--dataset", default="10x4x5x50")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", help="also save the raw profile (pstats) here")
    args = parser.parse_args()
    seconds = min(args.seconds, 60)
    asyncio.run(profile(args.scenario, args.dataset, seconds, args.top, args.dump))


if __name__ == "__main__":
    main()
