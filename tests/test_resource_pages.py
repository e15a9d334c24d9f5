"""Batched resource pages answer what one query per collection answers.

Collections of mixed sizes (empty, small, past the whole-read threshold),
random tags, types and hidden resources; every batch of page requests is
answered through `ResourceRepository.pages` and compared, request by
request, with `ResourceRepository.list`. Runs on each storage backend.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from gql_service.domain.models import (
    ResourceGrant,
    ResourceReference,
    ResourceType,
    Tag,
)
from gql_service.domain.roles import ResourceRole
from gql_service.storage import resources as repository_module
from gql_service.storage.documents import resource_to_doc
from gql_service.storage.gateway import CommandMeter, current_meter
from gql_service.storage.resources import PageRequest, ResourceQuery
from gql_service.storage.store import Store

SIZES = [0, 1, 7, 30, repository_module.WHOLE_COLLECTION_ROWS + 5]
TYPES = [
    ResourceType.INSTANCE,
    ResourceType.MANAGED_DATABASE,
    ResourceType.BLOCK_STORAGE,
]
ZONES = ["a", "b", "c"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def resources_for(collection_id: str, size: int, rng: random.Random) -> list:
    made = []
    for n in range(size):
        hidden = rng.random() < 0.2
        made.append(
            ResourceReference(
                id=str(ObjectId()),
                collection_id=collection_id,
                resource_type=rng.choice(TYPES),
                resource_id=f"{collection_id[-4:]}-{n}",
                resource_name=None,
                tags=[Tag("zone", rng.choice(ZONES))]
                + ([Tag("tier", "backend")] if rng.random() < 0.5 else []),
                metadata={"n": n},
                access=[ResourceGrant("viewer@example.com", ResourceRole.NONE)]
                if hidden
                else [],
                created_at=START + timedelta(seconds=n),
                updated_at=START + timedelta(seconds=n),
                added_by="owner@example.com",
            )
        )
    return made


QUERIES = [
    ResourceQuery(),
    ResourceQuery(tags=[Tag("zone", "a")]),
    ResourceQuery(resource_types=[ResourceType.MANAGED_DATABASE], tag_keys=["tier"]),
    ResourceQuery(hidden_from=["viewer@example.com"]),
]


@pytest.fixture
async def filled(database):
    store = Store(database)
    rng = random.Random(7)
    collection_ids = [str(ObjectId()) for _ in SIZES]
    every = {}
    for collection_id, size in zip(collection_ids, SIZES, strict=True):
        made = resources_for(collection_id, size, rng)
        every[collection_id] = made
        if made:
            await database.collection("resources").insert_many(
                [resource_to_doc(r) for r in made]
            )
    return store, collection_ids, every


async def counted_pages(store: Store, requests: list[PageRequest]) -> tuple[list, int]:
    """The pages, and how many database commands they took."""
    meter = CommandMeter()
    token = current_meter.set(meter)
    try:
        pages = await store.resources.pages(requests)
    finally:
        current_meter.reset(token)
    return pages, meter.commands


@pytest.mark.parametrize("seed", range(6))
async def test_batched_pages_equal_one_query_per_collection(filled, seed):
    store, collection_ids, every = filled
    rng = random.Random(seed)
    requests = []
    for _ in range(12):
        collection_id = rng.choice(collection_ids)
        rows = every[collection_id]
        after = rng.choice([None, None, *(r.id for r in rows[:10])])
        requests.append(
            PageRequest(
                collection_id,
                len(rows),
                rng.choice(QUERIES),
                after,
                rng.choice([1, 3, 21, 101]),
            )
        )

    batched = await store.resources.pages(requests)

    for request, page in zip(requests, batched, strict=True):
        alone = await store.resources.list(
            request.collection_id, request.query, request.after, request.limit
        )
        assert [r.id for r in page] == [r.id for r in alone], request
        assert page == alone


async def test_small_collections_of_one_shape_share_one_query(filled):
    store, collection_ids, every = filled
    small = [cid for cid in collection_ids if len(every[cid]) <= 30]
    big = [cid for cid in collection_ids if len(every[cid]) > 200]
    query = ResourceQuery(tags=[Tag("zone", "b")])
    requests = [PageRequest(cid, len(every[cid]), query, None, 21) for cid in small]
    requests += [PageRequest(cid, len(every[cid]), query, None, 21) for cid in big]

    pages, commands = await counted_pages(store, requests)

    assert commands == 1 + len(big)
    for request, page in zip(requests, pages, strict=True):
        assert len(page) <= 21
        assert all(r.collection_id == request.collection_id for r in page)


async def test_combined_reads_stay_under_their_row_bound(filled, monkeypatch):
    store, collection_ids, every = filled
    monkeypatch.setattr(repository_module, "COMBINED_ROWS", 31)
    small = [cid for cid in collection_ids if len(every[cid]) <= 30]
    requests = [
        PageRequest(cid, len(every[cid]), ResourceQuery(), None, 5) for cid in small
    ]

    pages, commands = await counted_pages(store, requests)

    # Sizes 0, 1, 7 fit in 31 rows together; 30 needs a read of its own.
    assert commands == 2
    assert [len(p) for p in pages] == [min(5, len(every[cid])) for cid in small]
