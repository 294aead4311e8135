"""`python -m dicompress_stack` is the `dicompress` command."""

from dicompress_stack.cli import main

raise SystemExit(main())
