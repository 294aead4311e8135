"""bench_split's parts: the stack with N compressors, one timed job, the model, the report."""
