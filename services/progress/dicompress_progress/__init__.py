"""The progress service: a faust-streaming worker that projects job events into Postgres.

It reads `CompressionRequested` (requests topic) and every later event (events topic), records
each event once in `job_events` (the audit trail and the tracking record) and folds it into the
job's row in `jobs`, in one transaction, so redeliveries and replays change nothing.
"""
