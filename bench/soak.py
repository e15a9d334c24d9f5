"""A bounded load test: 100 clients mixing reads, writes and subscriptions.

Loopback only; stops by itself (60 s of load by default, under 2 minutes in
all). Prints requests served, errors by code and p99 latency, then checks
that the store holds exactly the writes that were acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import time

import httpx

from bench.feed import subscribed
from bench.server import SECRET, service
from gql_service.auth.tokens import issue_token

ADMIN = issue_token(SECRET, "soak-admin@example.com", admin=True, ttl_seconds=3600)
SETUP = """mutation($name: String!) { createCollection(input: {name: $name,
  project: "soak", environment: "development"}) { collection { id } } }"""
GRANT = """mutation { updateProjectPermissions(input: {name: "soak",
  grant: [{subject: "group:soak", role: EDITOR}]}) { project { name } } }"""
READ = """query($id: ID!) { collection(id: $id) { name resourceCount
  resources(first: 20) { totalCount nodes { resourceId tags { key value } } } } }"""
DASHBOARD = """{ projects(first: 10) { nodes { name environments { name
  collectionCount resourceCount } } } }"""
WRITE = """mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) { resource { id } } }"""
FEED = 'subscription { collectionEvents(project: "soak") { cursor } }'
COUNT = """query($id: ID!) {
  collection(id: $id) { resourceCount resources { totalCount } } }"""


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.codes: collections.Counter[str] = collections.Counter()
        self.acknowledged: dict[str, set[str]] = collections.defaultdict(set)
        self.unknown: dict[str, set[str]] = collections.defaultdict(set)
        self.events = 0


async def setup(http: httpx.AsyncClient) -> list[str]:
    headers = {"Authorization": "Bearer " + ADMIN}
    ids = []
    for n in range(10):
        body = (
            await http.post(
                "/graphql",
                headers=headers,
                json={"query": SETUP, "variables": {"name": f"soak-{n}"}},
            )
        ).json()
        ids.append(body["data"]["createCollection"]["collection"]["id"])
    await http.post("/graphql", headers=headers, json={"query": GRANT})
    return ids


async def client(
    number: int, http: httpx.AsyncClient, ids: list[str], tally: Tally, until: float
) -> None:
    token = issue_token(
        SECRET, f"client-{number}@example.com", groups=["soak"], ttl_seconds=3600
    )
    headers = {"Authorization": "Bearer " + token}
    rng = random.Random(number)
    sequence = 0
    while time.monotonic() < until:
        collection = rng.choice(ids)
        if rng.random() < 0.25:
            sequence += 1
            resource_id = f"c{number}-{sequence}"
            payload = {
                "query": WRITE,
                "variables": {
                    "input": {
                        "collectionId": collection,
                        "resourceType": "INSTANCE",
                        "resourceId": resource_id,
                        "tags": [{"key": "soak", "value": "1"}],
                    }
                },
            }
        else:
            resource_id = None
            payload = (
                {"query": READ, "variables": {"id": collection}}
                if rng.random() < 0.7
                else {"query": DASHBOARD}
            )
        started = time.perf_counter()
        try:
            response = await http.post("/graphql", headers=headers, json=payload)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            tally.codes["CLIENT_ERROR"] += 1
            if resource_id:
                tally.unknown[collection].add(resource_id)
            continue
        tally.latencies.append(time.perf_counter() - started)
        errors = body.get("errors") or []
        for error in errors:
            tally.codes[error.get("extensions", {}).get("code", "NO_CODE")] += 1
        if not errors:
            tally.codes["OK"] += 1
            if resource_id:
                tally.acknowledged[collection].add(resource_id)


async def subscriber(url: str, tally: Tally, until: float) -> None:
    async with subscribed(url, ADMIN, FEED) as ws:
        while time.monotonic() < until:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 1))
            except TimeoutError:
                continue
            if message.get("type") == "next":
                tally.events += 1


async def verify(http: httpx.AsyncClient, ids: list[str], tally: Tally) -> bool:
    headers = {"Authorization": "Bearer " + ADMIN}
    exact = True
    for collection in ids:
        body = (
            await http.post(
                "/graphql",
                headers=headers,
                json={"query": COUNT, "variables": {"id": collection}},
            )
        ).json()
        if body.get("errors"):
            print("verification query failed:", body["errors"])
            return False
        stored = body["data"]["collection"]["resourceCount"]
        listed = body["data"]["collection"]["resources"]["totalCount"]
        acknowledged = len(tally.acknowledged[collection])
        unknown = len(tally.unknown[collection])
        if not (acknowledged <= stored <= acknowledged + unknown) or stored != listed:
            exact = False
            print(
                f"collection {collection}: stored {stored}, listed {listed}, "
                f"acknowledged {acknowledged}, unknown outcome {unknown}"
            )
    return exact


async def run(clients: int, subscribers: int, seconds: float) -> int:
    # Every client is its own subject; the per-subject limit is not under test.
    env = {
        "GQL_SERVICE_RATE_LIMIT_PER_SECOND": "1000",
        "GQL_SERVICE_RATE_LIMIT_BURST": "2000",
    }
    with service(env) as (url, _pid):
        limits = httpx.Limits(max_connections=clients + 10)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
            ids = await setup(http)
            tally = Tally()
            until = time.monotonic() + seconds
            await asyncio.gather(
                *(client(n, http, ids, tally, until) for n in range(clients)),
                *(subscriber(url, tally, until) for _ in range(subscribers)),
            )
            exact = await verify(http, ids, tally)

    latencies = sorted(tally.latencies)
    served = len(latencies)
    p99 = latencies[int(0.99 * (served - 1))] * 1000 if served else float("nan")
    writes = sum(len(v) for v in tally.acknowledged.values())
    print(f"clients: {clients} HTTP + {subscribers} WebSocket, {seconds:.0f} s")
    print(
        f"requests served: {served} ({served / seconds:.0f}/s), writes acknowledged: "
        f"{writes}, events received by subscribers: {tally.events}"
    )
    by_code = ", ".join(f"{k} {v}" for k, v in tally.codes.most_common())
    print("answers by code: " + by_code)
    print(f"latency p50 {latencies[served // 2] * 1000:.0f} ms, p99 {p99:.0f} ms")
    print("store holds exactly the acknowledged writes: " + ("yes" if exact else "NO"))
    return 0 if exact else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=95)
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.clients, args.subscribers, args.seconds)))


if __name__ == "__main__":
    main()
