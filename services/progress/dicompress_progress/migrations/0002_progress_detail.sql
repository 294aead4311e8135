-- Issue 4: per-slice rows, pacing and ETA, per-phase timings, resource figures, and the
-- commands of the control topic (for the audit trail). Additive only: 0001's readers still work.

ALTER TABLE jobs
    ADD COLUMN attempt            int,
    ADD COLUMN first_event_at     timestamptz,
    ADD COLUMN last_event_at      timestamptz,
    ADD COLUMN last_slice_at      timestamptz,
    ADD COLUMN slice_interval_ms  float8,
    ADD COLUMN eta_at             timestamptz,
    ADD COLUMN queue_ms           float8,
    ADD COLUMN run_ms             float8,
    ADD COLUMN cpu_s              float8,
    ADD COLUMN peak_rss_bytes     bigint,
    ADD COLUMN refused_events     int NOT NULL DEFAULT 0;

COMMENT ON COLUMN jobs.slice_interval_ms IS
    'Recent time per slice: an exponential moving average of the gaps between slice events';
COMMENT ON COLUMN jobs.eta_at IS
    'When the last slice should be done, at the recent pace; NULL when unknown or finished';
COMMENT ON COLUMN jobs.queue_ms IS 'Requested to started';
COMMENT ON COLUMN jobs.run_ms IS 'Started to finished';
COMMENT ON COLUMN jobs.refused_events IS
    'Events recorded in job_events but not folded in (after the job ended): a re-run or a bug';

-- One row per slice that has an outcome, so a viewer can list what is ready to load.
CREATE TABLE job_slices (
    job_id                  uuid NOT NULL REFERENCES jobs (job_id),
    slice_index             int NOT NULL,
    seq                     int NOT NULL,
    status                  text NOT NULL CHECK (status IN ('encoded', 'failed')),
    source_key              text NOT NULL,
    entry_name              text,
    slice_key               text,
    sop_instance_uid        text,
    source_sop_instance_uid text,
    bytes_in                bigint,
    bytes_out               bigint,
    ratio                   float8,
    psnr                    float8,
    max_abs_error           int,
    encode_ms               float8,
    error_code              text,
    reason                  text,
    occurred_at             timestamptz NOT NULL,
    PRIMARY KEY (job_id, slice_index)
);

-- Commands read from the control topic (e.g. CancelRequested): who asked what, and when.
-- command_id is the tracking record: a redelivered command is recorded once.
CREATE TABLE job_commands (
    command_id   uuid PRIMARY KEY,
    job_id       uuid NOT NULL,
    tenant       text NOT NULL,
    type         text NOT NULL,
    requested_at timestamptz NOT NULL,
    topic        text,
    partition    int,
    "offset"     bigint,
    payload      jsonb NOT NULL
);

CREATE INDEX job_commands_job ON job_commands (job_id, requested_at);
