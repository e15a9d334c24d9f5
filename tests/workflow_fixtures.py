"""Fixtures for the workflow tests: a harness over the test database with the
demo-like seed, and a loopback receiver for outgoing calls (loaded by
conftest; a test module may define its own ``ids``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.receivers import Receiver, recording_receiver
from tests.workflow_support import Harness, harness, seed


@pytest.fixture
async def h(database: Any) -> AsyncIterator[Harness]:
    async with harness(database) as running:
        yield running


@pytest.fixture
async def ids(h: Harness) -> dict[str, str]:
    return await seed(h)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with recording_receiver() as recording:
        yield recording
