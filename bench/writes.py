"""Scenario 4: concurrent addResourceToCollection, then an audit of the store.

Resource ids are ``WRITE_PREFIX<client>-<n>``, unique per request. After
the run every collection is paged through the API: each acknowledged write
must be there exactly once, nothing else may be (the only extra writes
allowed are the requests still in flight when wrk stopped, which the
service finished but whose answers nobody read), and each collection's
counters must equal the resources it lists.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from bench import loadgen, scenarios
from bench.loadgen import LoadResult


class Client(Protocol):
    url: str
    authorization: str
    headers: dict[str, str]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any: ...


@dataclass(slots=True)
class Audit:
    acknowledged: int
    stored: int
    duplicates: int
    missing: int
    unanswered: int
    strays: int
    counters_match: bool
    errors: int

    @property
    def exact(self) -> bool:
        """Every acknowledged write stored once, nothing unexplained, no error."""
        return (
            self.missing == 0
            and self.duplicates == 0
            and self.strays == 0
            and self.counters_match
            and self.errors == 0
        )


def run_wrk_writes(
    client: Client,
    collection_ids: list[str],
    *,
    clients: int,
    seconds: float,
    out_dir: Path,
) -> tuple[LoadResult, list[str]]:
    script = loadgen.wrk_write_script(
        collection_ids,
        scenarios.write_template(),
        scenarios.WRITE_PREFIX,
        client.authorization,
        out_dir,
    )
    result = loadgen.run_wrk(
        client.url, script, out_dir, connections=clients, seconds=seconds
    )
    return result, loadgen.read_acked(out_dir)


def run_httpx_writes(
    client: Client, collection_ids: list[str], *, clients: int, seconds: float
) -> tuple[LoadResult, list[str]]:
    template = scenarios.write_template()
    acked: list[str] = []

    def body_for(number: int, sent: int) -> bytes:
        collection = collection_ids[sent % len(collection_ids)]
        resource = f"{scenarios.WRITE_PREFIX}{number}-{sent}"
        return (template % (collection, resource)).encode()

    def on_clean(response: httpx.Response) -> None:
        payload = response.json()["data"]["addResourceToCollection"]
        acked.append(payload["resource"]["resourceId"])

    result = asyncio.run(
        loadgen.closed_loop(
            client.url,
            scenarios.graphql("4 writes", scenarios.WRITE),
            client.headers,
            connections=clients,
            seconds=seconds,
            body_for=body_for,
            on_clean=on_clean,
        )
    )
    return result, acked


def snapshot(client: Client, collection_ids: list[str]) -> dict[str, Any]:
    """Per collection: its counter, its total count and every resource id."""
    found: dict[str, Any] = {}
    for collection_id in collection_ids:
        ids: list[str] = []
        after = None
        while True:
            variables = {"id": collection_id, "after": after}
            data = client.graphql(scenarios.RESOURCE_PAGE, variables)["collection"]
            page = data["resources"]
            ids += [node["resourceId"] for node in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        found[collection_id] = {
            "counter": data["resourceCount"],
            "total": page["totalCount"],
            "ids": ids,
        }
    return found


def audit(
    before: dict[str, Any],
    after: dict[str, Any],
    acked: list[str],
    result: LoadResult,
) -> Audit:
    prefix = scenarios.WRITE_PREFIX
    stored = [rid for v in after.values() for rid in v["ids"] if rid.startswith(prefix)]
    earlier = {rid for v in before.values() for rid in v["ids"]}
    stored_set, acked_set = set(stored) - earlier, set(acked)
    unanswered = stored_set - acked_set
    # wrk drops the answers in flight when it stops: those requests were
    # generated (ids known) but not acknowledged. Anything else is a stray.
    strays = unanswered - generated_ids(result) if result.generated else unanswered
    return Audit(
        acknowledged=len(acked_set),
        stored=len(stored_set),
        duplicates=len(stored) - len(set(stored)) + len(acked) - len(acked_set),
        missing=len(acked_set - stored_set),
        unanswered=len(unanswered),
        strays=len(strays),
        counters_match=all(
            v["counter"] == v["total"] == len(v["ids"]) for v in after.values()
        ),
        errors=result.bad + result.socket_errors,
    )


def generated_ids(result: LoadResult) -> set[str]:
    return {
        f"{scenarios.WRITE_PREFIX}{thread}-{number}"
        for thread, count in enumerate(result.generated, start=1)
        for number in range(1, count + 1)
    }


def describe(found: Audit, clients: int) -> list[str]:
    lines = [
        f"acknowledged writes: {found.acknowledged}; stored: {found.stored}; "
        f"acknowledged but missing: {found.missing}; stored twice: "
        f"{found.duplicates}; error answers: {found.errors}",
    ]
    if found.unanswered:
        lines.append(
            f"stored but never answered: {found.unanswered} (in flight when wrk "
            f"stopped, at most {clients}); unexplained: {found.strays}"
        )
    lines.append(
        "collection counters (resourceCount, totalCount) equal the resources "
        f"listed: {'yes' if found.counters_match else 'NO'}"
    )
    verdict = "yes" if found.exact else "NO"
    if found.exact and found.unanswered:
        verdict = f"yes (plus {found.unanswered} cut off in flight)"
    lines.append(f"store holds exactly the acknowledged writes: {verdict}")
    return lines
