"""Parsed documents by query text, with whether they passed validation.

Frontends send the same few documents over and over; parsing and running
the validation rules again for each request costs more than executing a
small query. One cache per schema (the rules depend on its settings),
least recently used first out. Only documents that parse are kept, and only
the schema's own verdict (rules and literals) is remembered: limits,
operation names and variables are checked per request.

Memory is bounded by the text kept, not only by entries: a parsed document
holds every token of its text, about 80 bytes of syntax tree per byte of a
dense query, and comments make a text long at no token cost. Texts over
16 KiB are not kept, and all kept texts together stay under 256 KiB, so the
cache holds at most some 20 MiB whatever clients send.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from graphql import DocumentNode

DEFAULT_ENTRIES = 256
LONGEST_KEPT = 16 * 1024
TEXT_BUDGET = 256 * 1024


@dataclass(slots=True)
class CachedDocument:
    document: DocumentNode
    # Passed the validation rules and holds no refused text in its literals.
    valid: bool = False


class DocumentCache:
    def __init__(
        self,
        entries: int = DEFAULT_ENTRIES,
        longest: int = LONGEST_KEPT,
        budget: int = TEXT_BUDGET,
    ) -> None:
        self._entries = entries
        self._longest = longest
        self._budget = budget
        self._kept = 0
        self._documents: OrderedDict[str, CachedDocument] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    @property
    def kept_text(self) -> int:
        return self._kept

    def get(self, text: str) -> CachedDocument | None:
        found = self._documents.get(text)
        if found is not None:
            self._documents.move_to_end(text)
        return found

    def put(self, text: str, document: DocumentNode) -> CachedDocument:
        """Remember ``document``; a text too long is answered but not kept."""
        entry = CachedDocument(document)
        if len(text) > self._longest:
            return entry
        previous = self._documents.pop(text, None)
        if previous is not None:
            self._kept -= len(text)
        self._documents[text] = entry
        self._kept += len(text)
        while len(self._documents) > self._entries or self._kept > self._budget:
            dropped, _ = self._documents.popitem(last=False)
            self._kept -= len(dropped)
        return entry
