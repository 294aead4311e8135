"""Bearer-token verification: HS256 with a secret, RS256 with keys from a JWKS file or URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import ValidationError

from dicompress_infra.auth import (
    AuthError,
    HmacVerifier,
    JwksKeys,
    JwksVerifier,
    issue_token,
    verifier_from_settings,
)
from dicompress_infra.settings import CommonSettings

AUDIENCE = "dicompress"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, **overrides: Any) -> str:
        return jwt.encode(claims(**overrides), self.private, algorithm="RS256",
                          headers={"kid": self.kid})  # fmt: skip


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"sub": "acme", "tenant": "acme", "aud": AUDIENCE, "iat": now, "exp": now + 600}
    return {k: v for k, v in (values | overrides).items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], body: dict[str, Any], key: bytes | None = None) -> str:
    """A token put together by hand: `alg=none`, or HS256 with a key of the attacker's choice."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1")


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey("k2")


@pytest.fixture
def jwks_file(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.jwk()]}))
    return path


class JwksServer:
    """A real HTTP server on loopback serving `keys` as a JWKS, counting the fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.up = True
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                if not outer.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


def rs256(jwks_file: Path, **settings: Any) -> JwksVerifier:
    return JwksVerifier(JwksKeys(path=jwks_file), AUDIENCE, **settings)


def test_an_rs256_token_from_a_jwks_file_names_its_tenant(jwks_file: Path, key: SigningKey) -> None:
    assert rs256(jwks_file).tenant(key.token(tenant="globex")) == "globex"


def test_the_tenant_claim_and_issuer_are_configurable(jwks_file: Path, key: SigningKey) -> None:
    verifier = rs256(jwks_file, issuer="https://idp.example", tenant_claim="org")
    token = key.token(tenant=None, org="acme", iss="https://idp.example")
    assert verifier.tenant(token) == "acme"
    with pytest.raises(AuthError, match="iss"):
        verifier.tenant(key.token(tenant=None, org="acme", iss="https://evil.example"))
    with pytest.raises(AuthError, match="iss"):
        verifier.tenant(key.token(tenant=None, org="acme"))  # issuer required when configured


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "Audience doesn.t match"),
        ({"exp": int(time.time()) - 60}, "Signature has expired"),
        ({"tenant": None}, "tenant"),
        ({"tenant": ""}, "no tenant"),
        ({"exp": None}, "exp"),
    ],
)
def test_bad_claims_are_refused(
    jwks_file: Path, key: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(AuthError, match=reason):
        rs256(jwks_file).tenant(key.token(**overrides))


def test_a_token_from_an_unknown_key_is_refused(jwks_file: Path, other_key: SigningKey) -> None:
    with pytest.raises(AuthError, match="unknown signing key id 'k2'"):
        rs256(jwks_file).tenant(other_key.token())


def test_a_known_kid_with_a_forged_signature_is_refused(
    jwks_file: Path, other_key: SigningKey
) -> None:
    forged = jwt.encode(claims(), other_key.private, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(AuthError, match="Signature verification failed"):
        rs256(jwks_file).tenant(forged)


def test_alg_none_is_refused_by_both_verifiers(jwks_file: Path) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "k1"}, claims())
    with pytest.raises(AuthError, match="algorithm must be RS256"):
        rs256(jwks_file).tenant(token)
    with pytest.raises(AuthError, match="invalid token"):
        HmacVerifier("a-secret-of-the-right-length-0123456789", AUDIENCE).tenant(token)


def test_hs256_signed_with_the_public_key_is_refused(jwks_file: Path, key: SigningKey) -> None:
    """The classic confusion: the attacker HMACs with the (public) RSA key as the secret."""
    confused = unsigned({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims(), key.public_pem())
    with pytest.raises(AuthError, match="algorithm must be RS256"):
        rs256(jwks_file).tenant(confused)


def test_the_hs256_verifier_refuses_rs256_tokens(key: SigningKey) -> None:
    with pytest.raises(AuthError, match="alg value is not allowed"):
        HmacVerifier("a-secret-of-the-right-length-0123456789", AUDIENCE).tenant(key.token())


def test_a_jwk_declared_for_another_algorithm_is_not_used(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.jwk() | {"alg": "RS512"}]}))
    with pytest.raises(AuthError, match="not an RS256 key"):
        rs256(path).tenant(key.token())


def test_a_single_key_set_verifies_tokens_without_kid(jwks_file: Path, key: SigningKey) -> None:
    token = jwt.encode(claims(), key.private, algorithm="RS256")
    assert rs256(jwks_file).tenant(token) == "acme"


def test_a_served_jwks_is_cached_and_fetched_again_for_a_new_kid(
    jwks_server: JwksServer, key: SigningKey, other_key: SigningKey
) -> None:
    jwks_server.keys = [key.jwk()]
    verifier = JwksVerifier(JwksKeys(url=jwks_server.url, min_refresh_s=0), AUDIENCE)
    assert verifier.tenant(key.token()) == "acme"
    assert verifier.tenant(key.token(tenant="globex")) == "globex"
    assert jwks_server.fetches == 1  # cached

    jwks_server.keys = [key.jwk(), other_key.jwk()]  # the provider rotates in a new key
    assert verifier.tenant(other_key.token()) == "acme"
    assert jwks_server.fetches == 2


def test_unknown_kids_cannot_make_us_hammer_the_provider(
    jwks_server: JwksServer, key: SigningKey, other_key: SigningKey
) -> None:
    jwks_server.keys = [key.jwk()]
    verifier = JwksVerifier(JwksKeys(url=jwks_server.url, min_refresh_s=60), AUDIENCE)
    assert verifier.tenant(key.token()) == "acme"
    for _ in range(5):
        with pytest.raises(AuthError, match="unknown signing key id"):
            verifier.tenant(other_key.token())
    assert jwks_server.fetches == 1


def test_known_keys_survive_a_provider_outage_and_none_is_a_clear_error(
    jwks_server: JwksServer, key: SigningKey
) -> None:
    jwks_server.keys = [key.jwk()]
    keys = JwksKeys(url=jwks_server.url, cache_s=0.01)
    verifier = JwksVerifier(keys, AUDIENCE)
    assert verifier.tenant(key.token()) == "acme"
    jwks_server.up = False
    time.sleep(0.02)  # let the cache go stale (10 ms)
    assert verifier.tenant(key.token()) == "acme"  # refetch failed: the old keys still serve
    assert jwks_server.fetches == 2

    cold = JwksVerifier(JwksKeys(url=jwks_server.url), AUDIENCE)
    with pytest.raises(AuthError, match="signing keys unavailable"):
        cold.tenant(key.token())


async def test_the_async_form_fetches_in_a_thread(jwks_server: JwksServer, key: SigningKey) -> None:
    jwks_server.keys = [key.jwk()]
    verifier = JwksVerifier(JwksKeys(url=jwks_server.url), AUDIENCE)
    assert await verifier.tenant_async(key.token()) == "acme"
    assert await verifier.tenant_async(key.token(tenant="globex")) == "globex"
    assert jwks_server.fetches == 1


def test_settings_choose_the_verifier(jwks_file: Path, key: SigningKey) -> None:
    secret = "s" * 40
    hs = verifier_from_settings(CommonSettings(jwt_secret=secret))
    assert hs.tenant(issue_token(secret, "acme", AUDIENCE)) == "acme"
    with pytest.raises(AuthError):
        hs.tenant(key.token())

    rs = verifier_from_settings(CommonSettings(jwt_algorithm="RS256", jwt_jwks_file=jwks_file))
    assert rs.tenant(key.token()) == "acme"
    with pytest.raises(AuthError):
        rs.tenant(issue_token(secret, "acme", AUDIENCE))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"jwt_algorithm": "RS256"}, "needs exactly one of JWT_JWKS_URL, JWT_JWKS_FILE"),
        (
            {"jwt_algorithm": "RS256", "jwt_jwks_url": "https://x/j", "jwt_jwks_file": "j.json"},
            "needs exactly one",
        ),
        ({"jwt_jwks_url": "https://x/j"}, "only used with JWT_ALGORITHM=RS256"),
        ({"environment": "production"}, "JWT_SECRET must be set in production"),
        ({"environment": "production", "jwt_secret": ""}, "at least 32 characters"),
        ({"environment": "production", "jwt_secret": "short-secret"}, "at least 32 characters"),
        (
            {"environment": "production", "jwt_algorithm": "RS256", "jwt_jwks_url": "http://x/j"},
            "must be https",
        ),
    ],
)
def test_incoherent_or_weak_auth_settings_refuse_to_start(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CommonSettings(**fields)


def test_production_accepts_a_strong_secret_or_an_https_jwks() -> None:
    assert CommonSettings(environment="production", jwt_secret="x" * 32).jwt_algorithm == "HS256"
    rs = CommonSettings(
        environment="production", jwt_algorithm="RS256", jwt_jwks_url="https://idp/jwks.json"
    )
    assert rs.jwt_jwks_url == "https://idp/jwks.json"
