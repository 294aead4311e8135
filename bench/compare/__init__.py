"""Parts of bench/bench_compare.py: quality and size of outputs, process-tree memory, the
external tools (gdcmconv, dcmjs-codecs) and our own encode path and pipeline."""
