"""The study index, read: studies, their series in anatomical order, and the ingests that fed
them, as the progress service projected them from the ingest events.

The modules, from the edge in: `routes` (HTTP), `models` (response bodies), `answers` (rows
into them), `reader` (what each route answers), `composition` (wiring), `postgres_index` (the
adapter of the `ports.StudyIndex` protocol), `job_source` (a study or series as a job's source),
`errors` and `problems` (404s as problem details) and the pure `summary` (a series' order,
spacing and pixel facts).
"""
