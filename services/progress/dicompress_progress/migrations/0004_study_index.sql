-- Issue 12: the study index, projected from the ingest events (ingest.requests, ingest.events).
-- Readers: the API (GET /studies, /studies/{id}, /studies/{id}/series/{uid}, /ingests/{id}, and
-- POST /jobs with a studyId). Written only by the progress worker (study_index_store.py), each
-- event in one transaction with its tracking record in ingest_events.

-- The audit trail of ingests AND their tracking record: a row here means the event was applied
-- to the tables below in the same transaction, so a redelivered event changes nothing.
CREATE TABLE ingest_events (
    ingest_id   uuid NOT NULL,
    seq         int NOT NULL,
    event_id    uuid NOT NULL UNIQUE,
    type        text NOT NULL,
    tenant      text NOT NULL,
    topic       text,
    partition   int,
    "offset"    bigint,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz DEFAULT now(),
    payload     jsonb NOT NULL,
    PRIMARY KEY (ingest_id, seq)
);

-- One row per upload: where it came from, how far its ingest got, and its totals.
CREATE TABLE ingests (
    ingest_id      uuid PRIMARY KEY,
    tenant         text NOT NULL,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    file_name      text,
    bucket         text,
    key            text,
    size           bigint,
    etag           text,
    content_type   text,
    channel        text,
    upload_id      uuid,
    worker         text,
    archive_bytes  bigint,
    members        int NOT NULL DEFAULT 0,
    instances      int NOT NULL DEFAULT 0,
    images         int NOT NULL DEFAULT 0,
    non_images     int NOT NULL DEFAULT 0,
    rejected       int NOT NULL DEFAULT 0,
    skipped        int NOT NULL DEFAULT 0,
    bytes_stored   bigint NOT NULL DEFAULT 0,
    error_code     text,
    reason         text,
    detail         text,
    wall_ms        float8,
    attempt        int,
    last_seq       int,
    refused_events int NOT NULL DEFAULT 0,
    uploaded_at    timestamptz,
    started_at     timestamptz,
    finished_at    timestamptz,
    first_event_at timestamptz,
    last_event_at  timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ingests_tenant_uploaded_at ON ingests (tenant, uploaded_at);

COMMENT ON COLUMN ingests.members IS 'Members considered so far (stored or rejected; skipped excluded)';
COMMENT ON COLUMN ingests.refused_events IS
    'Events recorded in ingest_events but not counted (after the ingest ended)';

-- The members an ingest did not keep, with the reason in plain words.
CREATE TABLE ingest_rejections (
    ingest_id   uuid NOT NULL,
    seq         int NOT NULL,
    tenant      text NOT NULL,
    member      text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    error_code  text NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (ingest_id, seq)
);

-- Every stored DICOM object of a tenant, once: the same SOP Instance UID uploaded again updates
-- its row (the newest store wins, by (stored_at, ingest_id, seq), whatever order events are
-- projected in, so a replay computes the same rows).
CREATE TABLE study_instances (
    tenant                 text NOT NULL,
    sop_instance_uid       text NOT NULL,
    study_instance_uid     text,
    series_instance_uid    text,
    key                    text NOT NULL,
    member                 text NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('image', 'non-image')),
    sop_class_uid          text NOT NULL,
    transfer_syntax_uid    text NOT NULL,
    modality               text,
    bytes                  bigint NOT NULL,
    sha256                 text NOT NULL,
    ingest_id              uuid NOT NULL,
    seq                    int NOT NULL,
    header                 jsonb,
    position               float8,
    instance_number        int,
    number_of_frames       int,
    frame_of_reference_uid text,
    patient_name           text,
    patient_id             text,
    study_date             text,
    study_description      text,
    accession_number       text,
    series_number          int,
    series_description     text,
    first_stored_at        timestamptz NOT NULL,
    stored_at              timestamptz NOT NULL,
    PRIMARY KEY (tenant, sop_instance_uid)
);

CREATE INDEX study_instances_series
    ON study_instances (tenant, study_instance_uid, series_instance_uid, position);

COMMENT ON COLUMN study_instances.header IS 'The ImageHeader of the contract (images only)';
COMMENT ON COLUMN study_instances.position IS
    'ImagePositionPatient along the slice normal, mm (dicompress_schemas.geometry); NULL without geometry';
COMMENT ON COLUMN study_instances.first_stored_at IS 'When this instance was first stored';

-- Which ingests fed which studies (an instance row names only the latest one).
CREATE TABLE ingest_studies (
    ingest_id          uuid NOT NULL,
    tenant             text NOT NULL,
    study_instance_uid text NOT NULL,
    PRIMARY KEY (ingest_id, study_instance_uid)
);

CREATE INDEX ingest_studies_study ON ingest_studies (tenant, study_instance_uid);

-- Per study and per series, aggregates of study_instances, recomputed from them in the same
-- transaction whenever an instance of the study is stored.
CREATE TABLE studies (
    tenant             text NOT NULL,
    study_instance_uid text NOT NULL,
    study_id           uuid NOT NULL UNIQUE,
    patient_name       text,
    patient_id         text,
    study_date         text,
    study_description  text,
    accession_number   text,
    modalities         text[] NOT NULL,
    series_count       int NOT NULL,
    instance_count     int NOT NULL,
    image_count        int NOT NULL,
    non_image_count    int NOT NULL,
    bytes              bigint NOT NULL,
    received_at        timestamptz NOT NULL,
    last_stored_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant, study_instance_uid)
);

-- A tenant's studies, newest first (keyset pagination on (received_at, study_id)).
CREATE INDEX studies_tenant_received_at ON studies (tenant, received_at, study_id);

COMMENT ON COLUMN studies.study_id IS 'dicompress_schemas.study_id(tenant, study_instance_uid)';
COMMENT ON COLUMN studies.received_at IS 'When the first of its instances was stored';

CREATE TABLE series (
    tenant              text NOT NULL,
    study_instance_uid  text NOT NULL,
    series_instance_uid text NOT NULL,
    modality            text,
    series_number       int,
    series_description  text,
    sop_class_uids      text[] NOT NULL,
    instance_count      int NOT NULL,
    image_count         int NOT NULL,
    non_image_count     int NOT NULL,
    frame_count         int NOT NULL,
    bytes               bigint NOT NULL,
    received_at         timestamptz NOT NULL,
    last_stored_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant, study_instance_uid, series_instance_uid)
);
