"""Bearer tokens: HS256 and JWKS (RS256/ES256), claims, and what is refused."""

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gql_service.auth.tokens import TokenVerifier, bearer_token, issue_token
from gql_service.errors import UnauthenticatedError
from tests.conftest import SECRET


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


@pytest.fixture
def jwks_server():
    """A JWKS endpoint on loopback serving one RSA and one EC public key."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    private = {"rsa-1": rsa_key, "ec-1": ec_key}

    def body() -> bytes:
        published = []
        for kid, key in private.items():
            alg = "ES256" if kid.startswith("ec") else "RS256"
            jwk = json.loads(
                jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key())
            )
            published.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return json.dumps({"keys": published}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body())

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    yield url, private
    server.shutdown()


def claims(**extra):
    return {"sub": "alice@example.com", "exp": int(time.time()) + 60, **extra}


async def test_hs256_token_gives_the_principal():
    verifier = TokenVerifier(secret=SECRET)
    token = issue_token(SECRET, "alice@example.com", groups=["ops"], admin=True)

    principal = await verifier.verify(token)

    assert principal.subject == "alice@example.com"
    assert principal.groups == ("ops",)
    assert principal.is_admin
    assert "group:ops" in principal.identities


@pytest.mark.parametrize(
    "token",
    [
        unsigned_token(claims()),
        jwt.encode(claims(), "another-secret-" + "y" * 40, algorithm="HS256"),
        jwt.encode(
            {**claims(), "exp": int(time.time()) - 3600}, SECRET, algorithm="HS256"
        ),
        jwt.encode({"sub": "alice@example.com"}, SECRET, algorithm="HS256"),
        jwt.encode({**claims(), "sub": "group:admins"}, SECRET, algorithm="HS256"),
        jwt.encode({**claims(), "groups": "ops"}, SECRET, algorithm="HS256"),
        "not-a-jwt",
    ],
    ids=[
        "alg-none",
        "bad-signature",
        "expired",
        "no-exp",
        "group-subject",
        "groups-not-a-list",
        "garbage",
    ],
)
async def test_bad_tokens_are_refused(token):
    verifier = TokenVerifier(secret=SECRET)

    with pytest.raises(UnauthenticatedError):
        await verifier.verify(token)


async def test_issuer_and_audience_are_checked_when_configured():
    verifier = TokenVerifier(secret=SECRET, issuer="https://idp", audience="api")
    good = issue_token(SECRET, "a@b.c", issuer="https://idp", audience="api")
    wrong_issuer = issue_token(SECRET, "a@b.c", issuer="https://evil", audience="api")
    no_audience = issue_token(SECRET, "a@b.c", issuer="https://idp")

    assert (await verifier.verify(good)).subject == "a@b.c"
    for token in (wrong_issuer, no_audience):
        with pytest.raises(UnauthenticatedError):
            await verifier.verify(token)


@pytest.mark.parametrize(("kid", "alg"), [("rsa-1", "RS256"), ("ec-1", "ES256")])
async def test_jwks_tokens_are_accepted(jwks_server, kid, alg):
    url, keys = jwks_server
    verifier = TokenVerifier(jwks_url=url)
    token = jwt.encode(claims(), keys[kid], algorithm=alg, headers={"kid": kid})

    principal = await verifier.verify(token)

    assert principal.subject == "alice@example.com"


async def test_jwks_refuses_hs256_signed_with_the_public_key(jwks_server):
    url, keys = jwks_server
    verifier = TokenVerifier(jwks_url=url)
    public_pem = (
        keys["rsa-1"]
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = _b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
    forged = f"{header}.{payload}.{_b64(signature.digest())}"

    with pytest.raises(UnauthenticatedError):
        await verifier.verify(forged)


async def test_jwks_refuses_an_unknown_kid(jwks_server):
    url, _keys = jwks_server
    verifier = TokenVerifier(jwks_url=url)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "nope"})

    with pytest.raises(UnauthenticatedError):
        await verifier.verify(token)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "token"])
def test_malformed_authorization_headers_are_refused(header):
    with pytest.raises(UnauthenticatedError):
        bearer_token(header)


def test_missing_authorization_header_means_no_token():
    assert bearer_token(None) is None


async def test_jwks_rotation_is_picked_up_without_restart(jwks_server):
    url, keys = jwks_server
    verifier = TokenVerifier(jwks_url=url, jwks_refresh_cooldown=0.2)
    old = jwt.encode(
        claims(), keys["rsa-1"], algorithm="RS256", headers={"kid": "rsa-1"}
    )
    assert (await verifier.verify(old)).subject == "alice@example.com"
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys["rsa-2"] = rotated  # the server now also publishes rsa-2
    await asyncio.sleep(0.3)  # past the refetch cooldown

    token = jwt.encode(claims(), rotated, algorithm="RS256", headers={"kid": "rsa-2"})

    assert (await verifier.verify(token)).subject == "alice@example.com"


@pytest.mark.parametrize(("skew", "accepted"), [(-20, True), (-120, False)])
async def test_clock_skew_is_allowed_up_to_the_leeway(skew, accepted):
    verifier = TokenVerifier(secret=SECRET, leeway_seconds=30)
    token = jwt.encode(
        {"sub": "a@b.c", "exp": int(time.time()) + skew}, SECRET, algorithm="HS256"
    )

    if accepted:
        assert (await verifier.verify(token)).subject == "a@b.c"
    else:
        with pytest.raises(UnauthenticatedError):
            await verifier.verify(token)


async def test_not_yet_valid_token_is_refused():
    verifier = TokenVerifier(secret=SECRET, leeway_seconds=30)
    token = jwt.encode(
        {**claims(), "nbf": int(time.time()) + 600}, SECRET, algorithm="HS256"
    )

    with pytest.raises(UnauthenticatedError):
        await verifier.verify(token)
