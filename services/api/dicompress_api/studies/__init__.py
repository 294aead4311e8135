"""The study index, read: studies, their series in anatomical order, and the ingests that fed
them, as the progress service projected them from the ingest events.

The modules, from the edge in: `routes` (HTTP), `models` (response bodies), `composition`
(wiring), `postgres_index` (the adapter of the `ports.StudyIndex` protocol), `sources` (a study
or series as a job's source) and the pure `summary` (a series' order, spacing and pixel facts).
"""
