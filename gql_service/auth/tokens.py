"""Bearer tokens: verify a JWT and turn its claims into a Principal.

HS256 with a shared secret, or RS256/ES256 against a JWKS endpoint. The
accepted algorithms are fixed by the configuration, never by the token, so
neither ``alg: none`` nor an HS256 token signed with a public key passes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import jwt

from gql_service.auth.principal import GROUP_PREFIX, Principal
from gql_service.errors import UnauthenticatedError

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]
MAX_SUBJECT_LENGTH = 320


class TokenVerifier:
    """Checks signatures, expiry, issuer and audience of bearer tokens."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: int = 30,
        jwks_refresh_cooldown: float = 30.0,
    ) -> None:
        if not secret and not jwks_url:
            raise ValueError("a JWT secret or a JWKS URL is required")
        self._secret = secret
        # A token with an unknown kid refetches the key set (rotation), but
        # at most once per cooldown, so forged kids cannot hammer the IdP.
        self._jwks = (
            jwt.PyJWKClient(
                jwks_url,
                lifespan=300,
                timeout=5,
                cooldown_duration=jwks_refresh_cooldown,
            )
            if jwks_url
            else None
        )
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    async def verify(self, token: str) -> Principal:
        try:
            key = await self._key_for(token)
            claims = self._decode(token, key)
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError("The bearer token is not valid.") from exc
        return principal_from_claims(claims)

    async def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._secret
        # PyJWKClient fetches with blocking urllib; keep it off the event loop.
        # It caches the key set and refetches on an unknown kid (rotation).
        jwks = self._jwks
        signing_key = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
        return signing_key.key

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        options = {"require": ["sub", "exp"], "verify_aud": bool(self._audience)}
        algorithms = ASYMMETRIC_ALGORITHMS if self._jwks is not None else ["HS256"]
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options=options,
        )


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise UnauthenticatedError("The token has no subject.")
    if subject.startswith(GROUP_PREFIX) or len(subject) > MAX_SUBJECT_LENGTH:
        raise UnauthenticatedError("The token's subject is not a user.")
    groups = _string_list(claims.get("groups"))
    roles = _string_list(claims.get("roles"))
    expiry = claims.get("exp")
    return Principal(
        subject=subject,
        groups=tuple(groups),
        is_admin="admin" in roles,
        expires_at=datetime.fromtimestamp(expiry, UTC)
        if isinstance(expiry, int | float)
        else None,
    )


def _string_list(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UnauthenticatedError("The token's groups and roles must be lists.")
    return value


def issue_token(
    secret: str,
    subject: str,
    *,
    groups: list[str] | None = None,
    admin: bool = False,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """Sign an HS256 token, for local use and the demo users."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "groups": groups or [],
        "roles": ["admin"] if admin else [],
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer_token(header_value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("Use 'Authorization: Bearer <token>'.")
    return token.strip()
