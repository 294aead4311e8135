"""Parts of bench/bench_concurrency.py (issue 18 items 1 and 4): the design documents' test of 10
studies at once, on our stack and on gdcmconv and dcmjs-codecs, side by side."""
