"""Helpers of bench_ingest: the synthetic study archive, the ingest's events and memory, and the
API's two upload paths."""
