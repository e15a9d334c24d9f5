"""Keyset pagination: stable under ties because the last sort key is `_id`."""

from __future__ import annotations

from typing import Any

SortKey = list[tuple[str, int]]


def after_filter(sort: SortKey, values: list[Any]) -> dict[str, Any]:
    """Documents strictly after ``values`` in the (ascending) ``sort`` order."""
    clauses: list[dict[str, Any]] = []
    for index, (field, _direction) in enumerate(sort):
        clause = {name: values[i] for i, (name, _) in enumerate(sort[:index])}
        clause[field] = {"$gt": values[index]}
        clauses.append(clause)
    return {"$or": clauses}


def combine(*parts: dict[str, Any] | None) -> dict[str, Any]:
    present = [part for part in parts if part]
    if not present:
        return {}
    if len(present) == 1:
        return present[0]
    return {"$and": present}
