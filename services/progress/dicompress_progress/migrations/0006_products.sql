-- Issue 13: products (previews, thumbnails, 3D snapshots) are jobs; these tables say what each
-- product is and which images it has made. Written only by the progress worker (store.py, with
-- product_rows.py), in the transaction that folds the event into `jobs`.

-- NULL: a compression; else the ProductKind of the job.
ALTER TABLE jobs ADD COLUMN product_kind text;

-- One row per product job, from its ProductRequested: what it is made of and with.
CREATE TABLE products (
    job_id              uuid PRIMARY KEY,
    tenant              text NOT NULL,
    study_instance_uid  text NOT NULL,
    series_instance_uid text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('preview', 'thumbnails', 'snapshot', 'mini-ct')),
    params              jsonb NOT NULL,
    product_key         text NOT NULL,
    source_version      text NOT NULL,
    trigger             text NOT NULL,
    ingest_id           uuid,
    target_uri          text NOT NULL,
    requested_at        timestamptz NOT NULL
);

CREATE INDEX products_series ON products (tenant, study_instance_uid, series_instance_uid);

COMMENT ON COLUMN products.product_key IS 'dicompress_schemas.products.product_key: its identity';

-- The images of a thumbnails or snapshot product, one per ImageRendered.
CREATE TABLE product_images (
    job_id        uuid NOT NULL,
    item_index    int NOT NULL,
    seq           int NOT NULL,
    view          text NOT NULL,
    preset        text NOT NULL,
    window_center float8,
    window_width  float8,
    size          int NOT NULL,
    width         int NOT NULL,
    height        int NOT NULL,
    format        text NOT NULL,
    key           text NOT NULL,
    bytes         bigint NOT NULL,
    render_ms     float8 NOT NULL,
    fallback      text,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (job_id, item_index)
);
