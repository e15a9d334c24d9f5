"""Database commands per request do not grow with the size of the answer.

The bench's own documents (bench/scenarios.py), sent over data sets of two
sizes; the storage layer counts commands, so the figure is the same one a
real MongoDB would see.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench import scenarios
from tests.test_bench_support import started

SMALL, LARGE = "2x2x3x4", "6x4x5x12"


async def commands(http: httpx.AsyncClient, query: str, variables: Any) -> int:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}
    )
    body = response.json()
    assert "errors" not in body, body
    return int(response.headers["x-db-commands"])


async def figures(dataset: str) -> dict[str, int]:
    async with started(bench_dataset=dataset, expose_db_metrics=True) as http:
        found = await http.post(
            "/graphql",
            json={"query": scenarios.FIND, "variables": {"environment": "production"}},
        )
        collection_id = found.json()["data"]["collections"]["nodes"][0]["id"]
        return {
            "dashboard": await commands(http, scenarios.DASHBOARD, {"first": 10}),
            "detail": await commands(http, scenarios.DETAIL, {"id": collection_id}),
            "search": await commands(
                http, scenarios.SEARCH, scenarios.SEARCH_VARIABLES
            ),
        }


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, int]]:
    import asyncio

    return {size: asyncio.run(figures(size)) for size in (SMALL, LARGE)}


@pytest.mark.parametrize("scenario", ["dashboard", "detail", "search"])
def test_commands_do_not_grow_with_the_data(measured, scenario):
    assert measured[SMALL][scenario] == measured[LARGE][scenario]


def test_every_view_stays_within_eight_commands(measured):
    assert max(measured[LARGE].values()) <= 8, measured[LARGE]
