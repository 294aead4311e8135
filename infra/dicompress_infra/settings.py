"""Settings shared by every service, read from the same environment names everywhere.

Build them in `main()`, never at import: tests and the embedded stack pass their own.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dicompress_schemas import Topics


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
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); None for AWS"
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

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> CommonSettings:
        if self.environment == "production" and (
            self.jwt_secret.get_secret_value() == DEV_JWT_SECRET
        ):
            raise ValueError("JWT_SECRET must be set in production (the default is public)")
        return self

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)
