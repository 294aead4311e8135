"""The jobs feature: submit, list, read, cancel, follow (SSE), audit, queue and results of
compression jobs.
"""
