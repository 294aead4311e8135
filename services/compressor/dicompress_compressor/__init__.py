"""The compressor: consumes CompressionRequested, encodes DICOM series to lossy JPEG 2000.

Pure core: `encoder` (one slice), `ordering`. Orchestration: `pipeline`, `job`. Adapters:
`storage` (S3), `pool` (processes), `worker` (Kafka). Composition root: `service.run`.
"""
