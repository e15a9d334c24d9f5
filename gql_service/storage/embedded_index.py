"""An `_id` index for the embedded store.

mongomock answers every query by testing each document of the collection
against the filter, so a lookup by primary key costs as much as a full scan.
MongoDB answers those from the `_id` index. This module gives the embedded
store the same shortcut: when a filter pins `_id` to one value, a list of
values or a numeric range, only the documents whose key can match are tested
against the whole filter, which mongomock still evaluates as before. The
answer is the same documents in the same (natural) order; only the work
shrinks. Tests compare both ways on generated data and filters.

Without it, the event tailer's `_id > cursor` poll alone scans the whole
event log ten times a second, and every update by id scans its collection.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bson import ObjectId
from mongomock.collection import Collection
from mongomock.filtering import filter_applies
from mongomock.store import CollectionStore

logger = logging.getLogger(__name__)

RANGE_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda key, bound: key > bound,
    "$gte": lambda key, bound: key >= bound,
    "$lt": lambda key, bound: key < bound,
    "$lte": lambda key, bound: key <= bound,
}

_scan_all = Collection._iter_documents


def _numeric(value: Any) -> bool:
    """A plain int or float that Python orders as MongoDB does (not NaN).

    Exact types only: bool, and subclasses such as bson's Int64 or Code,
    take the full scan rather than trust their equality and hash.
    """
    kind = type(value)
    if kind is int:
        return True
    return kind is float and not math.isnan(value)


def _exact(value: Any) -> bool:
    """Values whose Python equality and hash agree with MongoDB's equality."""
    kind = type(value)
    return kind is str or kind is ObjectId or _numeric(value)


def _candidates(store: Any, condition: Any) -> list[Any] | None:
    """The documents whose `_id` can satisfy ``condition``; None: all of them."""
    if _exact(condition):
        return [store[condition]] if condition in store else []
    if not isinstance(condition, dict) or not condition:
        return None
    if not all(isinstance(key, str) and key.startswith("$") for key in condition):
        # A document to compare whole, not operators.
        return None
    if "$eq" in condition and _exact(condition["$eq"]):
        return _candidates(store, condition["$eq"])
    values = condition.get("$in")
    if isinstance(values, list | tuple) and all(_exact(v) for v in values):
        wanted = set(values)
        return [doc for key, doc in _items(store) if key in wanted]
    bounds = [
        (RANGE_TESTS[op], bound)
        for op, bound in condition.items()
        if op in RANGE_TESTS and _numeric(bound)
    ]
    if bounds:
        return [doc for key, doc in _items(store) if _may_match(key, bounds)]
    return None


def _may_match(key: Any, bounds: list[tuple[Callable[[Any, Any], bool], Any]]) -> bool:
    # Keys that are not plain numbers (NaN, Int64, strings...) stay
    # candidates: the full filter decides for them, so no match is dropped.
    return not _numeric(key) or all(test(key, bound) for test, bound in bounds)


def _items(store: Any) -> Iterable[tuple[Any, Any]]:
    with store._rwlock.reader():
        return list(store._documents.items())


def _iter_documents(self: Collection, filter: Any) -> Iterator[Any]:
    if isinstance(filter, dict) and "_id" in filter:
        store = self._store
        store._remove_expired_documents()
        found = _candidates(store, filter["_id"])
        if found is not None:
            if not found:
                # Refuse a malformed filter as a scan would (mongomock checks
                # it against an empty document when nothing is stored).
                filter_applies(filter, {})
            return (doc for doc in found if filter_applies(filter, doc))
    return _scan_all(self, filter)  # type: ignore[no-any-return]


def install() -> bool:
    """Route the embedded store's queries through the `_id` shortcut.

    Idempotent. Returns False, and the store keeps scanning, when this
    mongomock does not keep its documents the way the shortcut expects.
    """
    if Collection._iter_documents is _iter_documents:
        return True
    probe = Collection.__dict__.get("_iter_documents")
    if probe is None or not _store_shape_known():
        logger.warning("Embedded store layout unknown; _id lookups will scan")
        return False
    Collection._iter_documents = _iter_documents  # type: ignore[method-assign]
    return True


def _store_shape_known() -> bool:
    probe = CollectionStore("probe")
    return all(
        hasattr(probe, name)
        for name in ("_documents", "_rwlock", "_remove_expired_documents")
    )
