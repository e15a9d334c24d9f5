"""Parsed documents by query text, with whether they passed validation.

Frontends send the same few documents over and over; parsing and running
the validation rules again for each request costs more than executing a
small query. One cache per schema (the rules depend on its settings),
bounded in entries, least recently used first out. Only documents that
parse are kept, and only the schema's own verdict (rules and literals) is
remembered: limits, operation names and variables are checked per request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from graphql import DocumentNode

DEFAULT_ENTRIES = 256


@dataclass(slots=True)
class CachedDocument:
    document: DocumentNode
    # Passed the validation rules and holds no refused text in its literals.
    valid: bool = False


class DocumentCache:
    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries = entries
        self._documents: OrderedDict[str, CachedDocument] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, text: str) -> CachedDocument | None:
        found = self._documents.get(text)
        if found is not None:
            self._documents.move_to_end(text)
        return found

    def put(self, text: str, document: DocumentNode) -> CachedDocument:
        entry = CachedDocument(document)
        self._documents[text] = entry
        self._documents.move_to_end(text)
        while len(self._documents) > self._entries:
            self._documents.popitem(last=False)
        return entry
