"""Where the embedded stack lives and listens, and the environment its services get."""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "DICOMPRESS_"
S3_ACCESS_KEY = "dicompress"
S3_SECRET_KEY = "dicompress-secret"  # noqa: S105 (the embedded S3's key; development only)


class StackConfig(BaseModel):
    """Data dir, ports and names of one embedded stack. Every field can be overridden with
    DICOMPRESS_<FIELD> (e.g. DICOMPRESS_KAFKA_PORT=29092), so two stacks can run side by side."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path(".dicompress")
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    postgres_port: int = 15432
    s3_port: int = 19000
    api_port: int = 18000
    notifier_port: int = 18765
    progress_web_port: int = 18001
    compressor_health_port: int = 18002
    # above the compressors' health ports (18002 + up to 16 processes)
    ingest_health_port: int = 18030
    products_health_port: int = 18040
    renderer_health_port: int = 18050
    # compressor processes in one consumer group (scale-out on one machine); the first serves its
    # health on compressor_health_port, the next ones on the ports right after it
    compressors: int = Field(default=1, ge=1, le=16)
    topic_prefix: str = ""
    database: str = "dicompress"
    bucket: str = "dicompress-data"
    log_level: str = "INFO"
    # where the Java classpaths (Kafka, S3Proxy) are cached; None: inside the data dir
    classpath_cache: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path | None = None) -> StackConfig:
        """Defaults, overridden by DICOMPRESS_* variables, then by an explicit data dir."""
        values: dict[str, object] = {
            name: environ[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in environ
        }
        if data_dir is not None:
            values["data_dir"] = data_dir
        config = cls.model_validate(values)
        return config.model_copy(update={"data_dir": Path(os.path.abspath(config.data_dir))})

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def postgres_admin_url(self) -> str:
        return f"postgresql://dicompress@127.0.0.1:{self.postgres_port}/postgres"

    @property
    def database_url(self) -> str:
        return f"postgresql://dicompress@127.0.0.1:{self.postgres_port}/{self.database}"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.notifier_port}/ws"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "stack.json"

    @property
    def secret_path(self) -> Path:
        return self.data_dir / "jwt-secret"

    @property
    def kafka_classpath_cache(self) -> Path:
        return self.classpath_cache or self.data_dir / "kafka"

    @property
    def s3_classpath_cache(self) -> Path:
        return self.classpath_cache or self.data_dir / "s3"

    def backend_ports(self) -> dict[str, int]:
        return {
            "kafka": self.kafka_port,
            "kafka controller": self.kafka_controller_port,
            "postgres": self.postgres_port,
            "s3": self.s3_port,
        }

    def compressor_ports(self) -> dict[str, int]:
        """Each compressor process's health port, by instance name: 'compressor', then
        'compressor-2', 'compressor-3'..."""
        return {
            compressor_name(n): self.compressor_health_port + n for n in range(self.compressors)
        }

    def service_ports(self) -> dict[str, int]:
        return {
            "progress": self.progress_web_port,
            **self.compressor_ports(),
            "ingest": self.ingest_health_port,
            "products": self.products_health_port,
            "renderer": self.renderer_health_port,
            "notifier": self.notifier_port,
            "api": self.api_port,
        }


def compressor_name(index: int) -> str:
    """The instance name of the compressor process number `index` (from 0)."""
    return "compressor" if index == 0 else f"compressor-{index + 1}"


def endpoints(config: StackConfig) -> dict[str, str]:
    """What a client of the stack needs, named as environment variables."""
    return {
        "API_URL": config.api_url,
        "WS_URL": config.ws_url,
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap,
        "DATABASE_URL": config.database_url,
        "S3_ENDPOINT_URL": config.s3_endpoint_url,
        "S3_BUCKET": config.bucket,
    }


def service_env(config: StackConfig, jwt_secret: str) -> dict[str, str]:
    """The environment every service of the stack is started with (the same for all)."""
    return {
        "ENVIRONMENT": "development",
        "LOG_LEVEL": config.log_level,
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap,
        "TOPIC_PREFIX": config.topic_prefix,
        "DATABASE_URL": config.database_url,
        "S3_ENDPOINT_URL": config.s3_endpoint_url,
        "S3_BUCKET": config.bucket,
        # the stack's bucket is the one jobs may use, whatever it is named
        "API_ALLOWED_BUCKETS": config.bucket,
        "COMPRESSOR_ALLOWED_BUCKETS": config.bucket,
        "INGEST_ALLOWED_BUCKETS": config.bucket,
        "RENDERER_ALLOWED_BUCKETS": config.bucket,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "JWT_SECRET": jwt_secret,
        "API_PORT": str(config.api_port),
        "NOTIFIER_PORT": str(config.notifier_port),
        "API_VIEWER_NOTIFIER_URL": f"ws://127.0.0.1:{config.notifier_port}/ws",
        # the viewer page is served by the API, so that is the Origin its WebSocket sends
        "NOTIFIER_ALLOWED_ORIGINS": (
            f"http://127.0.0.1:{config.api_port},http://localhost:{config.api_port}"
        ),
        "PROGRESS_WEB_PORT": str(config.progress_web_port),
        "COMPRESSOR_HEALTH_PORT": str(config.compressor_health_port),
        "INGEST_HEALTH_PORT": str(config.ingest_health_port),
        "PRODUCTS_HEALTH_PORT": str(config.products_health_port),
        "RENDERER_HEALTH_PORT": str(config.renderer_health_port),
    }


def render_exports(values: Mapping[str, str]) -> str:
    """`export NAME='value'` lines a shell can eval."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())


def load_or_create_secret(config: StackConfig) -> str:
    """The stack's JWT secret: made once per data dir and kept there (0600), so tokens issued
    by `dicompress token` stay valid across restarts."""
    path = config.secret_path
    if path.exists():
        return path.read_text().strip()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another command made it a moment ago: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret
