"""A signing secret for local use, shared by `serve` and `gql-service token`."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger(__name__)


def load_or_create_secret(path: str) -> str:
    """Read the secret kept in ``path``, creating it (mode 0600) if absent."""
    file = Path(path)
    if file.exists():
        secret = file.read_text(encoding="utf-8").strip()
        if len(secret) >= 32:
            return secret
        logger.warning("Local secret file %s is too short; replacing it", file)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    logger.info("Created a local signing secret in %s", file)
    return secret


def read_secret(path: str) -> str | None:
    file = Path(path)
    if not file.exists():
        return None
    secret = file.read_text(encoding="utf-8").strip()
    return secret if len(secret) >= 32 else None
