-- Issue 17: the ratio so far is computed once, by the fold (dicompress_schemas.figures), and
-- sent as it is to every reader; this is its running denominator.
ALTER TABLE jobs ADD COLUMN codestream_estimate float8;

COMMENT ON COLUMN jobs.codestream_estimate IS
    'Sum over encoded slices of bytes_in / ratio: bytes_in / codestream_estimate is the ratio so far';
