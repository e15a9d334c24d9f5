"""Live-feed figures: 1,000 subscribers on one process, 100 changes.

Prints the delivery latency (p50, p99) from the moment the writer learns
its change is committed (the HTTP answer) to the moment each subscriber
holds the event, and the server's memory per subscriber (RSS growth over
the idle baseline, divided by the number of subscribers). Loopback only;
stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx

from bench.feed import subscribed
from bench.server import SECRET, rss_kib, service
from gql_service.auth.tokens import issue_token

SUBSCRIPTION = (
    "subscription { collectionEvents(types: "
    "[RESOURCE_ADDED]) { cursor resource { resourceId } } }"
)
CREATE = """mutation { createCollection(input: {name: "bench", project: "bench",
  environment: "development"}) { collection { id } } }"""
ADD = """mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) { resource { id } } }"""


async def subscriber(
    url: str,
    token: str,
    ready: asyncio.Event,
    counter: list[int],
    wanted: int,
    received: dict[str, list[float]],
) -> None:
    async with subscribed(url, token, SUBSCRIPTION, max_queue=None) as ws:
        counter[0] += 1
        if counter[0] == wanted:
            ready.set()
        seen = 0
        while seen < wanted_changes[0]:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message.get("type") != "next":
                continue
            arrived = time.perf_counter()
            resource = message["payload"]["data"]["collectionEvents"]["resource"]
            received.setdefault(resource["resourceId"], []).append(arrived)
            seen += 1


wanted_changes = [0]


async def run(subscribers: int, changes: int) -> None:
    wanted_changes[0] = changes
    token = issue_token(SECRET, "bench@example.com", admin=True, ttl_seconds=3600)
    headers = {"Authorization": "Bearer " + token}
    # One subject opens every subscription and makes every change.
    with service({"GQL_SERVICE_RATE_LIMIT_PER_SECOND": "0"}) as (url, pid):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            body = (await http.post("/graphql", json={"query": CREATE})).json()
            collection_id = body["data"]["createCollection"]["collection"]["id"]
            await asyncio.sleep(0.5)
            idle = rss_kib(pid)

            ready = asyncio.Event()
            counter = [0]
            received: dict[str, list[float]] = {}
            tasks = [
                asyncio.create_task(
                    subscriber(url, token, ready, counter, subscribers, received)
                )
                for _ in range(subscribers)
            ]
            await asyncio.wait_for(ready.wait(), 120)
            await asyncio.sleep(1.0)
            connected = rss_kib(pid)

            committed: dict[str, float] = {}
            for n in range(changes):
                resource_id = f"bench-{n}"
                variables = {
                    "input": {
                        "collectionId": collection_id,
                        "resourceType": "INSTANCE",
                        "resourceId": resource_id,
                    }
                }
                await http.post("/graphql", json={"query": ADD, "variables": variables})
                committed[resource_id] = time.perf_counter()
                await asyncio.sleep(0.02)
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
            after = rss_kib(pid)

    latencies = [
        max(0.0, arrived - committed[resource_id]) * 1000
        for resource_id, arrivals in received.items()
        for arrived in arrivals
    ]
    latencies.sort()
    delivered = len(latencies)
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (delivered - 1))]
    per_subscriber = (connected - idle) / subscribers
    print(
        f"subscribers: {subscribers}, changes: {changes}, deliveries: {delivered} "
        f"(expected {subscribers * changes})"
    )
    print(f"delivery latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(
        f"server RSS: idle {idle / 1024:.1f} MiB, with subscribers "
        f"{connected / 1024:.1f} MiB, after the changes {after / 1024:.1f} MiB"
    )
    print(f"memory per subscriber: {per_subscriber:.1f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.subscribers, args.changes))


if __name__ == "__main__":
    main()
