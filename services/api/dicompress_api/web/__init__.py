"""HTTP plumbing every route uses: who calls, limits, errors as problems, metrics, probes, the
viewer's static files.
"""
