"""The progress service: a faust-streaming worker that projects job events into Postgres.

It reads `CompressionRequested` (requests topic), every later event (events topic) and the
commands (control topic). In batches, one transaction each, it records every event once in
`job_events` (the audit trail and the tracking record), folds it into the job's row in `jobs`
and its slice's row in `job_slices`, records commands in `job_commands`, and NOTIFYs the change
feed (`feed.py`), so redeliveries and replays change nothing. `replay.py` rebuilds the whole
projection from the log (`dicompress replay [--check]`).
"""
