"""Bench-only pieces: database figures per request, the data set, the baseline."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from gql_service.app import create_app
from gql_service.bench_support.dataset import BENCH_SUBJECT, DatasetSpec, load_dataset
from gql_service.config import Settings
from gql_service.runtime import build_runtime
from tests.conftest import SECRET, token_for

DASHBOARD = """{ projects(first: 10) { nodes { name environments {
  name collectionCount resourceCount collections { name resourceCount } } } } }"""
DETAIL = """query($id: ID!) { collection(id: $id) { name resources(first: 50) {
  nodes { resourceType resourceId resourceName tags { key value } metadata
    access { subject role } myRole createdAt addedBy } } } }"""
FIRST_COLLECTION = "{ collections(first: 1) { nodes { id } } }"


@contextlib.asynccontextmanager
async def started(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a loaded bench data set, without the event feed.

    Loaded as the lifespan does (data set first, then the indexes), but
    without starting the event hub and the workflow runner.
    """
    settings = Settings(jwt_secret=SECRET, rate_limit_per_second=0, **overrides)
    runtime = build_runtime(settings)
    if settings.bench_dataset:
        await load_dataset(runtime.services, DatasetSpec.parse(settings.bench_dataset))
    await runtime.store.create_indexes()
    app = create_app(runtime)
    headers = {"Authorization": "Bearer " + token_for(BENCH_SUBJECT)}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as http:
        yield http


async def post(http: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_database_figures_are_not_exposed_by_default(client):
    response = await client.post(
        "/graphql",
        json={"query": "{ projects { nodes { name } } }"},
        headers={"Authorization": "Bearer " + token_for("a@example.com")},
    )

    assert response.status_code == 200
    assert "x-db-commands" not in response.headers


async def test_database_figures_count_the_commands_of_a_request():
    async with started(expose_db_metrics=True) as http:
        response = await http.post(
            "/graphql", json={"query": "{ projects { nodes { name } } }"}
        )

    assert int(response.headers["x-db-commands"]) >= 1
    assert float(response.headers["x-db-seconds"]) >= 0


async def test_baseline_is_not_mounted_by_default(client):
    response = await client.get("/bench/baseline/dashboard")

    assert response.status_code == 404


async def test_bench_data_set_has_the_asked_shape():
    async with started(bench_dataset="2x2x3x4") as http:
        projects = (await post(http, DASHBOARD))["projects"]["nodes"]

    stages = [stage for project in projects for stage in project["environments"]]
    assert [p["name"] for p in projects] == ["project-00", "project-01"]
    assert [s["collectionCount"] for s in stages] == [3, 3, 3, 3]
    assert sum(s["resourceCount"] for s in stages) == 2 * 2 * 3 * 4


async def test_baseline_dashboard_answers_what_graphql_answers():
    async with started(bench_dataset="2x2x3x4") as http:
        expected = (await post(http, DASHBOARD))["projects"]["nodes"]
        baseline = (await http.get("/bench/baseline/dashboard?first=10")).json()

    assert baseline["projects"] == expected


async def test_baseline_detail_answers_what_graphql_answers():
    async with started(bench_dataset="1x1x1x5") as http:
        global_id = (await post(http, FIRST_COLLECTION))["collections"]["nodes"][0]
        expected = (await post(http, DETAIL, id=global_id["id"]))["collection"]
        raw = _raw_id(global_id["id"])
        baseline = (await http.get(f"/bench/baseline/collections/{raw}")).json()

    assert baseline["collection"]["name"] == expected["name"]
    keep = set(expected["resources"]["nodes"][0])
    assert [
        {k: v for k, v in node.items() if k in keep}
        for node in baseline["collection"]["resources"]
    ] == [
        {**node, "createdAt": _iso(node["createdAt"])}
        for node in expected["resources"]["nodes"]
    ]


async def test_baseline_refuses_a_missing_token():
    async with started(bench_dataset="1x1x1x1") as http:
        response = await http.get(
            "/bench/baseline/dashboard", headers={"Authorization": ""}
        )

    assert response.status_code == 401


@pytest.mark.parametrize("text", ["10x4x5", "0x1x1x1", "ax4x5x50", "1x1x1x99999"])
def test_data_set_spec_refuses_malformed_text(text):
    with pytest.raises(ValueError):
        DatasetSpec.parse(text)


def _raw_id(global_id: str) -> str:
    padded = global_id + "=" * (-len(global_id) % 4)
    return base64.urlsafe_b64decode(padded).decode().partition(":")[2]


def _iso(value: str) -> str:
    return datetime.fromisoformat(value).isoformat()
