"""The products process manager: when a study is received, it asks for the products the tenant's
policy names (preview, thumbnails, 3D snapshot) for each of its CT series.

It reacts to `IngestCompleted` (ingest.events), reads the study index once the progress worker
has projected that ingest (which series, which instances: the series' version), and publishes one
`ProductRequested` per series and product to the topic of whoever makes it (the compressor makes
previews, the renderer images). A product's job id derives from what it is made of, so a
redelivered `IngestCompleted`, or a second upload of the same series, asks for no new work.
"""
