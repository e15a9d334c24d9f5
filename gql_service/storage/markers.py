"""Applied-event markers: what makes a replayed change a no-op.

Each document a change touches records the change's event cursor in
``applied_events`` in the same atomic update as the change itself. Applying
the change again matches nothing, so the sweeper may finish an interrupted
change without doing any of it twice. Only the newest MARK_WINDOW cursors
are kept: enough for any change the sweeper could still be finishing.
"""

from __future__ import annotations

from typing import Any

MARK_WINDOW = 2000
FIELD = "applied_events"
# Markers are bookkeeping: never load them with the document.
HIDDEN = {FIELD: 0}


def not_applied(seqs: list[int]) -> dict[str, Any]:
    return {FIELD: {"$nin": seqs}}


def push(seqs: list[int]) -> dict[str, Any]:
    return {FIELD: {"$each": seqs, "$slice": -MARK_WINDOW}}
