"""Parsed documents by query text, with whether they passed validation.

Frontends send the same few documents over and over; parsing and running
the validation rules again for each request costs more than executing a
small query. One cache per schema (the rules depend on its settings),
least recently used first out. Only documents that parse are kept, and only
the schema's own verdict (rules and literals) is remembered: limits,
operation names and variables are checked per request.

Memory is bounded by what the kept documents hold, not only by entries: a
parsed document keeps every token of its text (about 390 bytes each, so a
2,000-token document takes some 770 KiB) and the text itself. Texts over
16 KiB are not kept, and the kept documents together hold at most 48,000
tokens and 256 KiB of text, least recently used out first: about 20 MiB at
worst whatever clients send, room for hundreds of ordinary documents.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from graphql import DocumentNode

DEFAULT_ENTRIES = 256
LONGEST_KEPT = 16 * 1024
TEXT_BUDGET = 256 * 1024
TOKEN_BUDGET = 48_000


@dataclass(slots=True)
class CachedDocument:
    document: DocumentNode
    # Passed the validation rules and holds no refused text in its literals.
    valid: bool = False
    tokens: int = 0


def token_count(document: DocumentNode) -> int:
    """Tokens the parsed document keeps (comments included)."""
    count = 0
    token = document.loc.start_token if document.loc else None
    while token is not None:
        count += 1
        token = token.next
    return count


class DocumentCache:
    def __init__(
        self,
        entries: int = DEFAULT_ENTRIES,
        longest: int = LONGEST_KEPT,
        budget: int = TEXT_BUDGET,
        token_budget: int = TOKEN_BUDGET,
    ) -> None:
        self._entries = entries
        self._longest = longest
        self._budget = budget
        self._token_budget = token_budget
        self._kept = 0
        self._tokens = 0
        self._documents: OrderedDict[str, CachedDocument] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    @property
    def kept_text(self) -> int:
        return self._kept

    @property
    def kept_tokens(self) -> int:
        return self._tokens

    def get(self, text: str) -> CachedDocument | None:
        found = self._documents.get(text)
        if found is not None:
            self._documents.move_to_end(text)
        return found

    def put(self, text: str, document: DocumentNode) -> CachedDocument:
        """Remember ``document``; one too big to keep is answered, not kept."""
        entry = CachedDocument(document, tokens=token_count(document))
        if len(text) > self._longest or entry.tokens > self._token_budget:
            return entry
        self._drop(text)
        self._documents[text] = entry
        self._kept += len(text)
        self._tokens += entry.tokens
        while (
            len(self._documents) > self._entries
            or self._kept > self._budget
            or self._tokens > self._token_budget
        ):
            self._drop(next(iter(self._documents)))
        return entry

    def _drop(self, text: str) -> None:
        dropped = self._documents.pop(text, None)
        if dropped is not None:
            self._kept -= len(text)
            self._tokens -= dropped.tokens
