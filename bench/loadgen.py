"""Load generators: wrk (closed loop), httpx (fallback) and a fixed-rate sender.

Every run is bounded in time and stops by itself; all of them aim at a
loopback URL only. Each reports the same figures: completed requests,
answers that were not a clean 200 (an HTTP error or a GraphQL ``errors``
entry), latency percentiles and, from the X-DB-Commands / X-DB-Seconds
headers, database commands and storage time per answer.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.scenarios import Target

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_SECONDS = 120
MAX_REQUESTS = 1_000_000


@dataclass(slots=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    ok: int
    bad: int
    latencies_ms: tuple[float, float, float]  # p50, p99, mean
    metered: int = 0
    db_commands: int = 0
    db_seconds: float = 0.0
    socket_errors: int = 0
    # Writes: requests each wrk thread generated (ids 1..n).
    generated: list[int] = field(default_factory=list)
    # Open loop: the rate asked for and the sends skipped (too many in flight).
    offered_rate: float = 0.0
    skipped: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return self.latencies_ms[0]

    @property
    def p99_ms(self) -> float:
        return self.latencies_ms[1]

    @property
    def commands_per_request(self) -> float:
        return self.db_commands / self.metered if self.metered else float("nan")

    @property
    def storage_ms_per_request(self) -> float:
        return 1000 * self.db_seconds / self.metered if self.metered else float("nan")


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"load is only ever aimed at loopback, not {host!r}")


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


# --- wrk --------------------------------------------------------------------

LUA_COMMON = r"""
local threads = {}
local out_dir = "{{OUT_DIR}}"

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  ok, bad, metered, db_commands, db_seconds, n = 0, 0, 0, 0, 0.0, 0
end

local function meter(headers)
  local c = headers["x-db-commands"] or headers["X-DB-Commands"]
  local s = headers["x-db-seconds"] or headers["X-DB-Seconds"]
  if c and s then
    metered = metered + 1
    db_commands = db_commands + tonumber(c)
    db_seconds = db_seconds + tonumber(s)
  end
end

local function failed(status, body)
  bad = bad + 1
  if bad <= 3 then
    local f = io.open(out_dir .. "/errors-" .. tid .. ".txt", "a")
    f:write(status, " ", string.sub(body, 1, 400), "\n")
    f:close()
  end
end

local function clean(status, body)
  return status == 200 and not string.find(body, '"errors"', 1, true)
end

function done(summary, latency, requests)
  local t = {ok = 0, bad = 0, metered = 0, db_commands = 0, db_seconds = 0}
  local generated = {}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
    table.insert(generated, thread:get("n"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "bad": %d, ' ..
    '"socket_errors": %d, "p50_us": %.0f, "p99_us": %.0f, "mean_us": %.1f, ' ..
    '"metered": %d, "db_commands": %d, "db_seconds": %.6f, "generated": [%s]}\n',
    summary.requests, summary.duration, t.ok, t.bad,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean,
    t.metered, t.db_commands, t.db_seconds, table.concat(generated, ",")))
end
"""

LUA_FIXED = r"""
wrk.method = "{{METHOD}}"
wrk.path = "{{PATH}}"
wrk.headers["Authorization"] = "{{AUTHORIZATION}}"
wrk.headers["Content-Type"] = "application/json"
{{BODY}}

function response(status, headers, body)
  meter(headers)
  if clean(status, body) then ok = ok + 1 else failed(status, body) end
end
"""

LUA_WRITES = r"""
wrk.method = "POST"
wrk.path = "/graphql"
wrk.headers["Authorization"] = "{{AUTHORIZATION}}"
wrk.headers["Content-Type"] = "application/json"
local ids = { {{IDS}} }
local template = [==[{{TEMPLATE}}]==]
local acked = nil

function request()
  n = n + 1
  local resource = string.format("{{PREFIX}}%d-%d", tid, n)
  local body = string.format(template, ids[(n % #ids) + 1], resource)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  meter(headers)
  local resource = string.match(body, '"resourceId":"({{PREFIX}}[%d%-]+)"')
  if clean(status, body) and resource then
    ok = ok + 1
    if acked == nil then
      acked = io.open(out_dir .. "/acked-" .. tid .. ".txt", "w")
    end
    acked:write(resource, "\n")
    acked:flush()
  else
    failed(status, body)
  end
end
"""


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def _lua_string(text: str) -> str:
    if "]==]" in text:
        raise ValueError("body cannot be embedded in a Lua long string")
    return "[==[" + text + "]==]"


def wrk_script(target: Target, authorization: str, out_dir: Path) -> str:
    body = "wrk.body = " + _lua_string(target.body.decode()) if target.body else ""
    fixed = _fill(
        LUA_FIXED,
        {
            "METHOD": target.method,
            "PATH": target.path,
            "AUTHORIZATION": authorization,
            "BODY": body,
        },
    )
    return _fill(LUA_COMMON, {"OUT_DIR": str(out_dir)}) + fixed


def wrk_write_script(
    collection_ids: list[str],
    template: str,
    prefix: str,
    authorization: str,
    out_dir: Path,
) -> str:
    writes = _fill(
        LUA_WRITES,
        {
            "AUTHORIZATION": authorization,
            "IDS": ", ".join(json.dumps(value) for value in collection_ids),
            "TEMPLATE": template,
            "PREFIX": prefix,
        },
    )
    return _fill(LUA_COMMON, {"OUT_DIR": str(out_dir)}) + writes


def run_wrk(
    url: str,
    script: str,
    out_dir: Path,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
) -> LoadResult:
    check_loopback(url)
    seconds = min(seconds, MAX_SECONDS)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.txt"):
        old.unlink()
    path = out_dir / "script.lua"
    path.write_text(script)
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "--timeout",
        "30s",
        "-s",
        str(path),
        url,
    ]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next(
        (x for x in finished.stdout.splitlines() if x.startswith("BENCH_JSON ")), None
    )
    if line is None:
        raise RuntimeError(f"wrk gave no figures: {finished.stdout}{finished.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    samples = [
        text
        for error_file in sorted(out_dir.glob("errors-*.txt"))
        for text in error_file.read_text().splitlines()
    ]
    return LoadResult(
        tool="wrk",
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        ok=raw["ok"],
        bad=raw["bad"],
        latencies_ms=(
            raw["p50_us"] / 1000,
            raw["p99_us"] / 1000,
            raw["mean_us"] / 1000,
        ),
        metered=raw["metered"],
        db_commands=raw["db_commands"],
        db_seconds=raw["db_seconds"],
        socket_errors=raw["socket_errors"],
        generated=raw["generated"],
        error_samples=samples[:3],
    )


def read_acked(out_dir: Path) -> list[str]:
    return [
        line
        for path in sorted(out_dir.glob("acked-*.txt"))
        for line in path.read_text().splitlines()
        if line
    ]


# --- httpx ------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    bad: int = 0
    metered: int = 0
    db_commands: int = 0
    db_seconds: float = 0.0
    socket_errors: int = 0
    samples: list[str] = field(default_factory=list)

    def record(self, response: httpx.Response, elapsed: float) -> bool:
        self.latencies.append(elapsed)
        commands = response.headers.get("x-db-commands")
        seconds = response.headers.get("x-db-seconds")
        if commands is not None and seconds is not None:
            self.metered += 1
            self.db_commands += int(commands)
            self.db_seconds += float(seconds)
        clean = response.status_code == 200 and b'"errors"' not in response.content
        if clean:
            self.ok += 1
        else:
            self.bad += 1
            if len(self.samples) < 3:
                self.samples.append(f"{response.status_code} {response.text[:400]}")
        return clean

    def result(self, tool: str, seconds: float) -> LoadResult:
        ordered = sorted(self.latencies) or [0.0]
        return LoadResult(
            tool=tool,
            requests=len(self.latencies),
            seconds=seconds,
            ok=self.ok,
            bad=self.bad,
            latencies_ms=(
                1000 * _percentile(ordered, 50),
                1000 * _percentile(ordered, 99),
                1000 * statistics.fmean(ordered),
            ),
            metered=self.metered,
            db_commands=self.db_commands,
            db_seconds=self.db_seconds,
            socket_errors=self.socket_errors,
            error_samples=self.samples,
        )


def _percentile(ordered: list[float], percent: float) -> float:
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


BodyFor = Callable[[int, int], bytes | None]


async def closed_loop(
    url: str,
    target: Target,
    headers: dict[str, str],
    *,
    connections: int,
    seconds: float,
    body_for: BodyFor | None = None,
    on_clean: Callable[[httpx.Response], None] | None = None,
) -> LoadResult:
    """``connections`` clients, each sending its next request on an answer.

    Clients stop sending at the deadline and wait for their last answer, so
    every request sent is answered (or fails) before this returns.
    """
    check_loopback(url)
    seconds = min(seconds, MAX_SECONDS)
    tally = _Tally()
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def client_loop(number: int) -> None:
            sent = 0
            while time.perf_counter() < deadline and sent < MAX_REQUESTS:
                sent += 1
                body = body_for(number, sent) if body_for else target.body
                begun = time.perf_counter()
                try:
                    response = await client.request(
                        target.method, target.path, content=body
                    )
                except httpx.HTTPError:
                    tally.socket_errors += 1
                    continue
                if tally.record(response, time.perf_counter() - begun) and on_clean:
                    on_clean(response)

        await asyncio.gather(*(client_loop(n + 1) for n in range(connections)))
        return tally.result("httpx", time.perf_counter() - started)


async def fixed_rate(
    url: str,
    target: Target,
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
    max_in_flight: int = 256,
) -> LoadResult:
    """Open loop: send at ``rate`` per second whatever the answers do.

    Latency runs from the moment a request was due, not from when it was
    sent, so a server that falls behind cannot hide its queue (no
    coordinated omission). A send is skipped, and counted, when
    ``max_in_flight`` requests are already waiting.
    """
    check_loopback(url)
    seconds = min(seconds, MAX_SECONDS)
    total = min(int(rate * seconds), MAX_REQUESTS)
    tally = _Tally()
    in_flight = 0
    skipped = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:
        await client.get("/healthz")

        async def send(due: float) -> None:
            nonlocal in_flight
            in_flight += 1
            try:
                response = await client.request(
                    target.method, target.path, content=target.body
                )
                tally.record(response, time.perf_counter() - due)
            except httpx.HTTPError:
                tally.socket_errors += 1
            finally:
                in_flight -= 1

        tasks = []
        started = time.perf_counter() + 0.05
        for number in range(total):
            due = started + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= max_in_flight:
                skipped += 1
                continue
            tasks.append(asyncio.create_task(send(due)))
        await asyncio.wait(tasks, timeout=60)
        elapsed = time.perf_counter() - started
    result = tally.result("fixed-rate httpx", elapsed)
    result.offered_rate = rate
    result.skipped = skipped
    return result
