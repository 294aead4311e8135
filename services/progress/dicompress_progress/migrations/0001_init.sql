-- The projection of compression jobs: one row per job, and every event that built it.
-- Other services read these tables by name (api: jobs; notifier: job_events); keep the names.

CREATE TABLE jobs (
    job_id           uuid PRIMARY KEY,
    tenant           text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    source_uri       text,
    target_uri       text,
    compression_rate float8,
    codec            text,
    slices_total     int,
    slices_done      int NOT NULL DEFAULT 0,
    slices_failed    int NOT NULL DEFAULT 0,
    bytes_in         bigint DEFAULT 0,
    bytes_out        bigint DEFAULT 0,
    ratio            float8,
    artifact_uri     text,
    artifact_bytes   bigint,
    error_code       text,
    reason           text,
    worker           text,
    last_seq         int,
    download_ms      float8,
    encode_ms        float8,
    upload_ms        float8,
    wall_ms          float8,
    requested_at     timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A tenant's job list, newest first.
CREATE INDEX jobs_tenant_requested_at ON jobs (tenant, requested_at);

-- The audit trail AND the tracking record: a row here means the event was applied to `jobs`
-- in the same transaction, so a redelivered event (same job_id/seq or event_id) is a no-op.
CREATE TABLE job_events (
    job_id      uuid NOT NULL,
    seq         int NOT NULL,
    event_id    uuid NOT NULL UNIQUE,
    type        text NOT NULL,
    topic       text,
    partition   int,
    "offset"    bigint,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz DEFAULT now(),
    payload     jsonb NOT NULL,
    PRIMARY KEY (job_id, seq)
);
