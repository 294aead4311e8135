"""The embedded dicompress stack: Kafka, Postgres and S3 on this machine, plus the five services.

`dicompress up` runs it for development and demos; the test fixtures reuse its backends. Nothing
here is used in production, where the services get their endpoints from the environment.
"""
