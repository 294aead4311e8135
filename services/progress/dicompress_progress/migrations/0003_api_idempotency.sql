-- Issue 5: the API's Idempotency-Key records, the one table the API writes.
-- A retried POST /jobs with the same key must return the same job across API restarts and
-- instances, and the same key with another body must be refused: the INSERT on the primary key
-- decides atomically which of two concurrent requests publishes. `response` is the answer the
-- first request gave; `published` turns true once the broker acknowledged the job.
--
-- Not part of the projection, so it is created in `public` by name and only if missing: a replay
-- (replay.py) applies the migrations in a fresh schema and swaps only the projection tables in;
-- the live idempotency records must stay where they are, and the fresh schema must stay free of
-- tables the swap does not move.

CREATE TABLE IF NOT EXISTS public.api_idempotency (
    tenant      text NOT NULL,
    idem_key    text NOT NULL,
    fingerprint text NOT NULL,
    job_id      uuid NOT NULL,
    response    jsonb NOT NULL,
    published   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, idem_key)
);

COMMENT ON COLUMN public.api_idempotency.fingerprint IS
    'SHA-256 of the request with defaults filled in: the same key with another one is a 409';
