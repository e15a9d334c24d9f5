"""What an applied operation produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gql_service.errors import ServiceError


@dataclass(slots=True)
class Outcome:
    """Values for the caller; ``refused`` names events of a batch that failed."""

    value: dict[str, Any] = field(default_factory=dict)
    refused: dict[int, ServiceError] = field(default_factory=dict)
