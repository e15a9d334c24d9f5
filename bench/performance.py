"""The API's performance figures (`make bench`).

Starts the service in a child process on loopback with the embedded store
and a synthetic data set (10 projects x 4 environments x 5 collections x 50
resources by default), then measures with wrk (or, without wrk, a bounded
httpx load generator):

1. dashboard: projects -> environments -> collections with counts;
2. collection detail: one collection and 50 resources with every field;
3. filtered search: production collections by tag, resources by tag;
4. writes: addResourceToCollection from 16 clients across 50 collections,
   then an audit that the store holds exactly the acknowledged writes;

the same data as plain JSON from the bench-only baseline endpoints, and
latency at half the saturation rate (open loop) for scenarios 1 and 2.
Every run is bounded in time; the whole bench takes about three minutes.
The last line printed is the GraphQL / baseline throughput ratio on
scenario 2.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import loadgen, machine, scenarios, writes
from bench.loadgen import LoadResult
from bench.machine import Spent, Usage
from bench.scenarios import Target
from bench.server import SECRET, service
from gql_service.auth.tokens import issue_token
from gql_service.bench_support.dataset import BENCH_SUBJECT, DatasetSpec

COMMAND_TARGET = 8
# p99 at most this many times p50 at half the saturation rate.
TAIL_TARGET = 4.0
# GraphQL throughput at least this share of the baseline's (scenario 2).
RATIO_TARGET = 0.5
TABLE = (
    f"{'scenario':<22} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
    f"{'cmds':>5} {'db ms':>6} {'cpu ms':>6} {'svc%':>5} {'others':>6} {'errors':>6}"
)
LEGEND = """\
conns: concurrent connections; cmds, db ms: database commands and wall time in
the storage layer per request (X-DB-* headers); cpu ms: service CPU seconds per
request (background tasks included); svc%: service CPU use (100 = one core);
others: cores that other processes on the machine kept busy meanwhile"""
# A closed-loop run keeps this many requests' worth of time per connection,
# so that slow scenarios still complete requests within the run.
RUN_SHARE = 4
DRAIN_SECONDS = 60


@dataclass(slots=True)
class Options:
    dataset: str
    seconds: float
    warmup: float
    connections: int
    write_clients: int
    write_collections: int
    open_loop_seconds: float
    samples: int
    loadgen: str


@dataclass(slots=True)
class Sample:
    """Sequential requests on an otherwise idle service."""

    commands: float
    storage_ms: float
    latency_ms: float
    size: int


class Bench:
    def __init__(self, url: str, pid: int, options: Options, work: Path) -> None:
        self.url = url
        self.pid = pid
        self.options = options
        self.work = work
        token = issue_token(SECRET, BENCH_SUBJECT, ttl_seconds=3600)
        self.authorization = "Bearer " + token
        self.headers = {
            "Authorization": self.authorization,
            "Content-Type": "application/json",
        }
        self.http = httpx.Client(base_url=url, headers=self.headers, timeout=60)
        # The service's CPU share with no request (event tailer, runner).
        self.idle_share = 0.0

    @property
    def use_wrk(self) -> bool:
        return self.options.loadgen == "wrk"

    def send(self, target: Target) -> httpx.Response:
        return self.http.request(target.method, target.path, content=target.body)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = self.send(scenarios.graphql("", query, variables))
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"GraphQL answered {response.status_code}: {body}")
        return body["data"]

    def sample(self, target: Target) -> Sample:
        commands, storage, latency = [], [], []
        response = None
        for _ in range(self.options.samples):
            started = time.perf_counter()
            response = self.send(target)
            latency.append(1000 * (time.perf_counter() - started))
            if response.status_code != 200 or b'"errors"' in response.content:
                raise RuntimeError(f"{target.name} failed: {response.text[:400]}")
            commands.append(int(response.headers["x-db-commands"]))
            storage.append(1000 * float(response.headers["x-db-seconds"]))
        latency.sort()
        return Sample(
            sum(commands) / len(commands),
            sum(storage) / len(storage),
            latency[len(latency) // 2],
            len(response.content) if response else 0,
        )

    def measure_idle(self, seconds: float = 2.0) -> Spent:
        before = Usage.now(self.pid)
        time.sleep(seconds)
        idle = Spent.between(before, Usage.now(self.pid))
        self.idle_share = idle.server_share
        return idle

    def drain(self) -> None:
        """Wait until the service has finished what a run left in flight.

        A load generator that stops drops its connections, but the service
        still completes the requests it was given, which would slow the
        next run down.
        """
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            before = Usage.now(self.pid)
            time.sleep(0.5)
            spent = Spent.between(before, Usage.now(self.pid))
            if spent.server_share <= self.idle_share + 0.15:
                return

    def connections_for(self, sample: Sample) -> int:
        """At most --connections, fewer when one request takes long."""
        per_request = max(sample.latency_ms / 1000, 1e-3)
        fitting = int(self.options.seconds / RUN_SHARE / per_request)
        return max(2, min(self.options.connections, fitting))

    def saturate(self, target: Target, connections: int) -> tuple[LoadResult, Spent]:
        if self.options.warmup:
            self._closed(target, self.options.warmup, connections)
            self.drain()
        before = Usage.now(self.pid)
        result = self._closed(target, self.options.seconds, connections)
        spent = Spent.between(before, Usage.now(self.pid))
        self.drain()
        return result, spent

    def _closed(self, target: Target, seconds: float, connections: int) -> LoadResult:
        if self.use_wrk:
            out_dir = self.work / target.name.replace(" ", "-")
            script = loadgen.wrk_script(target, self.authorization, out_dir)
            return loadgen.run_wrk(
                self.url, script, out_dir, connections=connections, seconds=seconds
            )
        return asyncio.run(
            loadgen.closed_loop(
                self.url, target, self.headers, connections=connections, seconds=seconds
            )
        )

    def open_loop(self, target: Target, rate: float) -> tuple[LoadResult, Spent]:
        before = Usage.now(self.pid)
        result = asyncio.run(
            loadgen.fixed_rate(
                self.url,
                target,
                self.headers,
                rate=rate,
                seconds=self.options.open_loop_seconds,
            )
        )
        spent = Spent.between(before, Usage.now(self.pid))
        self.drain()
        return result, spent

    def write_load(self, collection_ids: list[str]) -> tuple[LoadResult, list[str]]:
        options = self.options
        if self.use_wrk:
            return writes.run_wrk_writes(
                self,
                collection_ids,
                clients=options.write_clients,
                seconds=options.seconds,
                out_dir=self.work / "writes",
            )
        return writes.run_httpx_writes(
            self, collection_ids, clients=options.write_clients, seconds=options.seconds
        )


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    connections: int
    result: LoadResult
    spent: Spent
    rate: float | None = None

    @property
    def cpu_ms(self) -> float:
        """Service CPU per request, the event tailer and runner included."""
        if not self.result.requests:
            return math.nan
        return 1000 * self.spent.server / self.result.requests

    def line(self) -> str:
        result = self.result
        errors = result.bad + result.socket_errors + result.skipped
        rps = self.rate if self.rate is not None else result.rps
        return (
            f"{self.name:<22} {self.connections or '-':>5} {rps:>7.1f} "
            f"{result.p50_ms:>7.1f} {result.p99_ms:>7.1f} "
            f"{fmt(result.commands_per_request):>5} "
            f"{fmt(result.storage_ms_per_request):>6} {fmt(self.cpu_ms):>6} "
            f"{100 * self.spent.server_share:>5.0f} {self.spent.others:>6.2f} "
            f"{errors:>6}"
        )


def print_errors(result: LoadResult) -> None:
    for sample in result.error_samples:
        print(f"    error sample: {sample}")


def run(options: Options) -> None:
    spec = DatasetSpec.parse(options.dataset)
    print(f"machine: {machine.facts()}")
    print(
        f"data set {options.dataset}: {spec.projects} projects x {spec.environments} "
        f"environments x {spec.collections} collections x {spec.resources} resources "
        f"= {spec.total_resources} resources, embedded store, written through the "
        "domain services at startup"
    )
    if options.loadgen == "wrk":
        print("load generator: wrk (closed loop, 2 threads)")
    else:
        print(
            "load generator: httpx closed loop, because wrk is not installed "
            f"(bounded to {options.seconds:.0f} s a run)"
        )
    env = {
        "GQL_SERVICE_BENCH_DATASET": options.dataset,
        "GQL_SERVICE_EXPOSE_DB_METRICS": "true",
        # One subject sends hundreds of requests a second here.
        "GQL_SERVICE_RATE_LIMIT_PER_SECOND": "0",
    }
    started = time.perf_counter()
    with (
        service(env, startup_seconds=600) as (url, pid),
        tempfile.TemporaryDirectory(prefix="gql-bench-") as work,
    ):
        print(f"service ready in {time.perf_counter() - started:.1f} s (pid {pid})")
        bench = Bench(url, pid, options, Path(work))
        try:
            measure(bench, spec)
        finally:
            bench.http.close()


def measure(bench: Bench, spec: DatasetSpec) -> None:
    options = bench.options
    production = bench.graphql(scenarios.FIND, {"environment": "production"})
    shown = production["collections"]["nodes"][0]
    # Writes go to the first stage of the path (development when there are
    # four or more environments), away from the collection that is read.
    first_stage = spec.environment_names()[0]
    written = bench.graphql(scenarios.FIND, {"environment": first_stage})
    nodes = written["collections"]["nodes"]
    write_ids = [node["id"] for node in nodes][: options.write_collections]
    if not write_ids:
        raise RuntimeError(f"no {first_stage} collection to write to")

    dashboard = scenarios.graphql(
        "1 dashboard", scenarios.DASHBOARD, {"first": spec.projects}
    )
    dashboard_2 = scenarios.graphql(
        "1 dashboard, 2 projects", scenarios.DASHBOARD, {"first": 2}
    )
    detail = scenarios.graphql("2 detail", scenarios.DETAIL, {"id": shown["id"]})
    search = scenarios.graphql("3 search", scenarios.SEARCH, scenarios.SEARCH_VARIABLES)
    base_dashboard = Target(
        "baseline 1 dashboard",
        "GET",
        f"/bench/baseline/dashboard?first={spec.projects}",
    )
    base_detail = Target(
        "baseline 2 detail",
        "GET",
        f"/bench/baseline/collections/{scenarios.raw_id(shown['id'])}?first=50",
    )
    check_answers(bench, dashboard, detail, search, spec)
    print(
        f"scenario 2 reads {shown['project']['name']}/production/{shown['name']}; "
        f"writes go to {len(write_ids)} {first_stage} collections"
    )

    idle = bench.measure_idle()
    print(
        f"service CPU while idle (event tailer, workflow runner): "
        f"{100 * idle.server_share:.0f} % of a core; other processes on the "
        f"machine: {idle.others:.2f} cores"
    )

    print(f"\n== one request at a time on an idle service ({options.samples} each) ==")
    print(
        f"{'request':<24} {'cmds':>5} {'db ms':>7} {'p50 ms':>7} {'bytes':>8}"
        "   (db ms: mean time in the storage layer; p50 ms: round trip)"
    )
    samples = {}
    for target in (dashboard, dashboard_2, detail, search, base_dashboard, base_detail):
        sample = samples[target.name] = bench.sample(target)
        print(
            f"{target.name:<24} {sample.commands:>5.1f} {sample.storage_ms:>7.2f} "
            f"{sample.latency_ms:>7.1f} {sample.size:>8}"
        )

    print(
        f"\n== saturation: closed loop, {options.seconds:.0f} s a run after "
        f"{options.warmup:.0f} s of warm-up =="
    )
    print(LEGEND)
    print(TABLE)
    saturated = {}
    for target in (dashboard, detail, search, base_dashboard, base_detail):
        connections = bench.connections_for(samples[target.name])
        result, spent = bench.saturate(target, connections)
        saturated[target.name] = Row(target.name, connections, result, spent)
        print(saturated[target.name].line())
        print_errors(result)

    print(
        f"\n== open loop at half the saturation rate, "
        f"{options.open_loop_seconds:.0f} s each (req/s = offered rate) =="
    )
    print(TABLE)
    half_load = {}
    for target in (dashboard, detail):
        rate = max(1.0, saturated[target.name].result.rps / 2)
        result, spent = bench.open_loop(target, rate)
        half_load[target.name] = Row(target.name, 0, result, spent, rate)
        print(half_load[target.name].line())
        print_errors(result)

    writes_ok = run_writes(bench, write_ids)
    print_targets(bench, spec, samples, saturated, half_load, writes_ok)


def check_answers(
    bench: Bench, dashboard: Target, detail: Target, search: Target, spec: DatasetSpec
) -> None:
    """Each scenario answers what the data set holds, without an error."""
    projects = bench.send(dashboard).json()["data"]["projects"]["nodes"]
    stages = [stage for project in projects for stage in project["environments"]]
    resources = sum(stage["resourceCount"] for stage in stages)
    collection = bench.send(detail).json()["data"]["collection"]
    found = bench.send(search).json()["data"]["collections"]
    matched = sum(len(node["resources"]["nodes"]) for node in found["nodes"])
    print(
        f"answers: dashboard {len(projects)} projects, {len(stages)} environments, "
        f"{resources} resources; detail {len(collection['resources']['nodes'])} "
        f"resources; search {found['totalCount']} collections, {matched} resources"
    )
    if len(projects) != spec.projects or resources != spec.total_resources:
        raise RuntimeError("the dashboard does not show the whole data set")


def run_writes(bench: Bench, collection_ids: list[str]) -> bool:
    options = bench.options
    print(
        f"\n== writes: addResourceToCollection, {options.write_clients} clients, "
        f"{len(collection_ids)} collections, {options.seconds:.0f} s =="
    )
    before = writes.snapshot(bench, collection_ids)
    usage = Usage.now(bench.pid)
    result, acked = bench.write_load(collection_ids)
    spent = Spent.between(usage, Usage.now(bench.pid))
    bench.drain()
    print(TABLE)
    row = Row("4 writes", options.write_clients, result, spent)
    print(row.line())
    print_errors(result)
    after = writes.snapshot(bench, collection_ids)
    found = writes.audit(before, after, acked, result)
    for line in writes.describe(found, options.write_clients):
        print(line)
    return found.exact


def print_targets(
    bench: Bench,
    spec: DatasetSpec,
    samples: dict[str, Sample],
    saturated: dict[str, Row],
    half_load: dict[str, Row],
    writes_ok: bool,
) -> None:
    print("\n== targets ==")
    full = samples["1 dashboard"].commands
    two = samples["1 dashboard, 2 projects"].commands
    met = full == two and full <= COMMAND_TARGET
    print(
        f"dashboard database commands per request: {full:.0f} at {spec.projects} "
        f"projects, {two:.0f} at 2 projects (target: the same, and at most "
        f"{COMMAND_TARGET}): {'met' if met else 'NOT met'}"
    )
    for name, row in half_load.items():
        tail = row.result.p99_ms / row.result.p50_ms if row.result.p50_ms else math.nan
        print(
            f"{name} at half load: p99 {row.result.p99_ms:.1f} ms = {fmt(tail, 1)}x "
            f"p50 (target: at most {TAIL_TARGET:.0f}x): "
            f"{'met' if tail <= TAIL_TARGET else 'NOT met'}"
        )
    print(f"writes exact and error-free: {'yes' if writes_ok else 'NO'}")
    alone, floor = samples["2 detail"], samples["baseline 2 detail"]
    print(
        f"scenario 2, one request on an idle service: GraphQL {alone.latency_ms:.1f} "
        f"ms of which {alone.storage_ms:.1f} in storage, baseline "
        f"{floor.latency_ms:.1f} ms of which {floor.storage_ms:.1f} in storage; "
        f"outside storage {alone.latency_ms - alone.storage_ms:.1f} ms vs "
        f"{floor.latency_ms - floor.storage_ms:.1f} ms"
    )
    graphql, baseline = saturated["2 detail"], saturated["baseline 2 detail"]
    graphql_rps, baseline_rps = graphql.result.rps, baseline.result.rps
    print(
        f"scenario 2 at saturation: GraphQL {graphql_rps:.1f} req/s, "
        f"baseline {baseline_rps:.1f} req/s"
    )
    ratio = graphql_rps / baseline_rps if baseline_rps else math.nan
    print(
        f"GraphQL at least {RATIO_TARGET:.0%} of the baseline on scenario 2: "
        f"{'met' if ratio >= RATIO_TARGET else 'NOT met'}"
    )
    print(f"ratio graphql/baseline: {fmt(ratio, 2)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dataset", default="10x4x5x50")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--write-clients", type=int, default=16)
    parser.add_argument("--write-collections", type=int, default=50)
    parser.add_argument("--open-loop-seconds", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args()
    chosen = args.loadgen
    if chosen == "auto":
        chosen = "wrk" if loadgen.has_wrk() else "httpx"
    run(
        Options(
            dataset=args.dataset,
            seconds=min(args.seconds, loadgen.MAX_SECONDS),
            warmup=min(args.warmup, 10),
            connections=args.connections,
            write_clients=args.write_clients,
            write_collections=args.write_collections,
            open_loop_seconds=min(args.open_loop_seconds, loadgen.MAX_SECONDS),
            samples=args.samples,
            loadgen=chosen,
        )
    )


if __name__ == "__main__":
    main()
