-- Issue 16: SliceEncoded v2 measures PSNR over each slice's own value range (psnr_db) and the
-- largest error in modality units (max_error_hu). The old `psnr` was measured against the
-- BitsStored peak, a different figure per scanner: it is dropped rather than renamed, so no
-- reader takes an old figure for the new one. A replay gives the same table: the upcaster turns
-- a v1 event's psnr into psnr_db NULL (dicompress_schemas.upcast).
ALTER TABLE job_slices DROP COLUMN psnr;
ALTER TABLE job_slices ADD COLUMN psnr_db float8;
ALTER TABLE job_slices ADD COLUMN max_error_hu float8;

COMMENT ON COLUMN job_slices.psnr_db IS
    'PSNR (dB) over the original slice''s own value range (max - min); NULL when lossless or written as SliceEncoded v1';
COMMENT ON COLUMN job_slices.max_error_hu IS
    'Largest absolute pixel error in modality units (HU for CT: stored error x |RescaleSlope|)';
COMMENT ON COLUMN job_slices.max_abs_error IS 'Largest absolute pixel error in stored units';
