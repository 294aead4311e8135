-- Issue 12: the API's uploads (POST /uploads, PUT /uploads/stream), its second table.
-- S3 is the record of the bytes: which parts arrived, their sizes and ETags are asked of S3
-- (ListParts) every time, never copied here. What S3 cannot hold for an upload that is still
-- open is what the client declared (size, part size, file name, content type), whose tenant it
-- is, and whether its ArchiveUploaded was published: a retried POST /uploads/{id}/complete must
-- publish nothing new, on any API instance, after a restart. The sweep finds abandoned uploads
-- here by age (moto reports a fixed Initiated date, so S3's own age is not trusted).
--
-- Rebuildable: a lost row of an open upload only loses that upload (the sweep aborts its parts
-- as an orphan); `published` of a completed one is also on the log (ArchiveUploaded names its
-- upload_id). Not part of the projection: created in `public` by name and only if missing, like
-- api_idempotency, so a replay's fresh schema neither gets nor moves it.

CREATE TABLE IF NOT EXISTS public.api_uploads (
    upload_id    uuid PRIMARY KEY,
    tenant       text NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('presigned', 'streamed')),
    bucket       text NOT NULL,
    object_key   text NOT NULL,
    s3_upload_id text,
    file_name    text NOT NULL,
    content_type text NOT NULL,
    size         bigint,
    part_size    bigint NOT NULL,
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completed', 'aborted')),
    etag         text,
    ingest_id    uuid NOT NULL,
    published    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

CREATE INDEX IF NOT EXISTS api_uploads_open_by_age
    ON public.api_uploads (created_at) WHERE state = 'open';

COMMENT ON COLUMN public.api_uploads.s3_upload_id IS
    'S3''s multipart upload id; NULL for the moment between the row and CreateMultipartUpload';
COMMENT ON COLUMN public.api_uploads.size IS
    'Declared by the client (presigned); what arrived, once completed (streamed)';
