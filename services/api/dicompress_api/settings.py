"""Settings of the API service (env names without prefix, e.g. API_PORT, API_ALLOWED_BUCKETS)."""

from __future__ import annotations

from pydantic import Field

from dicompress_infra.settings import CommonSettings, NameList
from dicompress_schemas import Codec
from dicompress_schemas.events import DEFAULT_MIN_PSNR_DB


class ApiSettings(CommonSettings):
    """Where the API listens, which buckets it lets callers touch, and how long it waits."""

    api_host: str = Field(default="127.0.0.1", description="Interface uvicorn binds to")
    api_port: int = Field(default=18000, ge=1, le=65535, description="TCP port uvicorn binds to")
    api_allowed_buckets: NameList = Field(
        default_factory=lambda: ["dicompress-data"],
        description="The only buckets a job may read from or write to (comma-separated or JSON)",
    )
    api_default_rate: float = Field(
        default=100, gt=1, le=1000, description="compressionRate when a lossy request gives none"
    )
    api_default_codec: Codec = Field(
        default=Codec.J2K_LOSSY, description="codec when a request gives none"
    )
    api_default_anonymize: bool = Field(
        default=False, description="anonymize when a request gives none"
    )
    api_default_overwrite: bool = Field(
        default=False, description="overwriteExisting when a request gives none"
    )
    api_default_min_psnr_db: float | None = Field(
        default=DEFAULT_MIN_PSNR_DB,
        gt=0,
        le=200,
        description="minPsnrDb for lossy jobs when a request gives none: PSNR in dB over each "
        "slice's own value range (README, 'Quality floor'); null: no floor",
    )
    api_tenant_prefixes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per tenant, the S3 prefixes its sources and targets must fall under, as "
        'JSON, e.g. {"clinic-a": ["s3://dicompress-data/clinic-a/"]}; replaces the default rule '
        "for the tenants it names. '{tenant}' and '{bucket}' are expanded",
    )
    api_default_tenant_prefixes: NameList = Field(
        default_factory=lambda: ["s3://{bucket}/{tenant}/"],
        description="The prefixes of a tenant not named in API_TENANT_PREFIXES; '{bucket}' "
        "stands for each of API_ALLOWED_BUCKETS and '{tenant}' for the caller's tenant",
    )
    api_max_queue_length: int = Field(
        default=200,
        ge=1,
        description="Queued jobs (all tenants) beyond which POST /jobs answers 503",
    )
    api_max_active_per_tenant: int = Field(
        default=100,
        ge=1,
        description="A tenant's jobs waiting or running (both lanes) beyond which its POST /jobs "
        "answers 429: one clinic's archive cannot fill the whole queue",
    )
    api_max_interactive_per_tenant: int = Field(
        default=3,
        ge=1,
        description="A tenant's interactive jobs waiting or running beyond which an interactive "
        "POST /jobs answers 429 (send it with priority 'batch'): the interactive lane stays "
        "short for every clinic",
    )
    api_queue_full_retry_after_s: int = Field(
        default=30, ge=1, description="Retry-After of the 503 a full queue answers"
    )
    api_queue_parallelism: int = Field(
        default=1,
        ge=1,
        description="How many jobs run at once (compressor instances): used by the queue's "
        "start and finish estimates",
    )
    api_throughput_window: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="How many recently completed jobs the queue's throughput is measured over",
    )
    api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body accepted (else 413)"
    )
    api_rate_limit_per_s: float = Field(
        default=20, gt=0, description="Requests per second a tenant may send, on average"
    )
    api_rate_limit_burst: int = Field(
        default=40, ge=1, description="Requests a tenant may send at once before 429s start"
    )
    api_idempotency_ttl_h: int = Field(
        default=24,
        ge=1,
        description="Hours an Idempotency-Key is remembered; a key older than this is reusable",
    )
    api_publish_timeout_s: float = Field(
        default=10,
        gt=0,
        description="How long POST /jobs waits for the broker's ack before answering 503",
    )
    api_presign_expiry_s: int = Field(
        default=300,
        ge=1,
        le=7 * 24 * 3600,
        description="How long the presigned URLs of slices and ZIPs stay valid, in seconds",
    )
    api_viewer_notifier_url: str = Field(
        default="ws://127.0.0.1:18765/ws",
        description="The notifier's WebSocket URL as a browser reaches it; the viewer page served "
        "at /viewer/ connects there",
    )
    api_upload_bucket: str | None = Field(
        default=None,
        description="Bucket uploads are written to, under '{tenant}/uploads/'; unset: the first "
        "of API_ALLOWED_BUCKETS",
    )
    api_upload_max_bytes: int = Field(
        default=20 * 1024**3,
        ge=1,
        le=5 * 1024**4,
        description="Largest upload (a study's ZIP or one DICOM file) accepted, presigned or "
        "streamed; larger is a 413",
    )
    api_upload_part_bytes: int = Field(
        default=16 * 1024**2,
        ge=5 * 1024**2,
        le=5 * 1024**3,
        description="Part size of presigned multipart uploads (S3's minimum is 5 MiB); raised "
        "for an upload that would otherwise need more than 10,000 parts",
    )
    api_upload_stream_part_bytes: int = Field(
        default=8 * 1024**2,
        ge=5 * 1024**2,
        le=64 * 1024**2,
        description="Part size of a streamed upload: at most two parts per request are in "
        "memory (one filling, one being written to S3)",
    )
    api_upload_max_streams: int = Field(
        default=8,
        ge=1,
        description="Streamed uploads one API instance takes at once; more answer 503 with "
        "Retry-After (each holds up to two parts in memory)",
    )
    api_upload_url_expiry_s: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="How long presigned part URLs stay valid; GET /uploads/{id} signs fresh ones",
    )
    api_upload_abandon_after_s: int = Field(
        default=24 * 3600,
        ge=60,
        description="An upload not completed this long after it began is aborted by the sweep "
        "(its parts deleted)",
    )
    api_upload_sweep_interval_s: float = Field(
        default=600,
        gt=0,
        description="How often each API instance looks for abandoned uploads to abort",
    )
    api_bucket_notification_topic: str | None = Field(
        default=None,
        description="Kafka topic of S3 event notifications (the AWS record format, e.g. from "
        "Ceph RGW): objects created under '{tenant}/incoming/' in an allowed bucket are "
        "ingested like uploads. Unset: no such trigger. Used as given (no TOPIC_PREFIX)",
    )
    api_bucket_notification_group: str = Field(
        default="dicompress-api-bucket-notifications",
        min_length=1,
        description="Consumer group the API instances share for those notifications",
    )
