"""Settings shared by every service, read from the same environment names everywhere.

Build them in `main()`, never at import: tests and the embedded stack pass their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dicompress_schemas import Topics, changefeed


def _split_names(value: object) -> object:
    """Env vars arrive as one string: accept "a,b" as well as a JSON list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


# A list setting written in the environment as "a,b" or as a JSON list (e.g. allowed buckets).
NameList = Annotated[list[str], NoDecode, BeforeValidator(_split_names)]

# The embedded stack's development secret; refused in production mode.
DEV_JWT_SECRET = "dicompress-dev-secret-change-me-0123456789"  # noqa: S105
# The shortest HS256 secret production accepts (RFC 7518 wants a key as long as the hash: 256 bits).
MIN_PRODUCTION_SECRET_CHARS = 32


class CommonSettings(BaseSettings):
    """What every service needs to reach the broker, Postgres, S3 and each other."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    environment: str = Field(
        default="development",
        description="'production' refuses development defaults such as the JWT secret",
    )
    log_level: str = Field(default="INFO", description="Python logging level")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092", description="Comma-separated host:port list"
    )
    topic_prefix: str = Field(default="", description="Prefix of every topic name")
    database_url: str = Field(
        default="postgresql://dicompress@127.0.0.1:15432/dicompress",
        description="asyncpg DSN of the projection database",
    )
    change_feed_channel: str = Field(
        default=changefeed.CHANNEL,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Postgres channel of the projection's change feed: the progress worker "
        "NOTIFYs on it (one payload per changed job per committed batch), the notifier and the "
        "API's SSE LISTEN on it",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (e.g. S3Proxy); None for AWS"
    )
    s3_region: str = Field(default="us-east-1", description="S3 region name")
    aws_access_key_id: str = Field(default="dicompress", description="S3 access key")
    aws_secret_access_key: SecretStr = Field(
        default=SecretStr("dicompress-secret"), description="S3 secret key"
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_JWT_SECRET), description="HS256 key that signs bearer tokens"
    )
    jwt_audience: str = Field(default="dicompress", description="Required 'aud' claim")
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        default="HS256",
        description="HS256: tokens signed with JWT_SECRET (embedded stack); RS256: tokens signed "
        "by an identity provider whose public keys come from JWT_JWKS_URL or JWT_JWKS_FILE",
    )
    jwt_jwks_url: str | None = Field(
        default=None,
        description="RS256: URL of the provider's JWKS, cached and fetched again on an unknown kid",
    )
    jwt_jwks_file: Path | None = Field(
        default=None, description="RS256: a local JWKS file instead of a URL"
    )
    jwt_jwks_cache_s: float = Field(
        default=300, gt=0, description="RS256: how long a fetched key set is used before refetch"
    )
    jwt_issuer: str | None = Field(
        default=None, description="Required 'iss' claim when set (e.g. the provider's URL)"
    )
    jwt_tenant_claim: str = Field(
        default="tenant", min_length=1, description="The claim naming the caller's tenant"
    )
    jwt_leeway_s: float = Field(
        default=0, ge=0, le=300, description="Clock skew allowed on 'exp'/'nbf'/'iat', seconds"
    )

    @model_validator(mode="after")
    def _auth_is_coherent(self) -> CommonSettings:
        jwks = [name for name in ("jwt_jwks_url", "jwt_jwks_file") if getattr(self, name)]
        if self.jwt_algorithm == "RS256" and len(jwks) != 1:
            raise ValueError("JWT_ALGORITHM=RS256 needs exactly one of JWT_JWKS_URL, JWT_JWKS_FILE")
        if self.jwt_algorithm == "HS256" and jwks:
            raise ValueError(f"{jwks[0].upper()} is only used with JWT_ALGORITHM=RS256")
        if self.environment != "production":
            return self
        if self.jwt_algorithm == "HS256":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET:
                raise ValueError("JWT_SECRET must be set in production (the default is public)")
            if len(secret) < MIN_PRODUCTION_SECRET_CHARS:
                raise ValueError(
                    f"JWT_SECRET must have at least {MIN_PRODUCTION_SECRET_CHARS} characters in "
                    "production (a short HS256 secret can be brute-forced from any token)"
                )
        elif self.jwt_jwks_url and not self.jwt_jwks_url.startswith("https://"):
            raise ValueError("JWT_JWKS_URL must be https:// in production (keys decide who is who)")
        return self

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)
