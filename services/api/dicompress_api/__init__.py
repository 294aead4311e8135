"""The dicompress HTTP API: accepts compression jobs and reports their progress.

`POST /jobs` publishes `CompressionRequested` to Kafka and waits for the broker's acknowledgement;
`GET /jobs/{id}` reads the progress service's projection in Postgres, filtered by the caller's
tenant. `create_app(settings)` is the composition root; adapters can be injected for tests.
"""
