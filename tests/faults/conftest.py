"""Fixtures of the fault tests: backends of their own (the tests restart them, so never the
session's shared ones) and a whole stack on them, started once for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_rig import Rig, as_test_backends, service_env, upload_series

from dicompress_stack.aio import run_async
from dicompress_stack.backends import Backends
from dicompress_stack.testing import restartable_backends

SLICES = 24


@pytest.fixture(scope="module")
def fault_backends(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backends]:
    """Kafka, Postgres and S3 for this module alone (embedded, on free ports)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    classpath: Path = (
        cache.mkdir("dicompress-kafka-classpath")
        if cache is not None
        else tmp_path_factory.mktemp("classpath")
    )
    with restartable_backends(classpath) as backends:
        yield backends


@pytest.fixture(scope="module")
def rig(fault_backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """The four services on `fault_backends`, with a series of SLICES slices uploaded; one
    compressor with one encoder process, so a job lasts long enough to be harmed mid-way."""
    env = service_env(as_test_backends(fault_backends), compressor_processes=1)
    upload_series(env, SLICES)
    stack = Rig(fault_backends, env, tmp_path_factory.mktemp("faults"), SLICES)
    try:
        run_async(stack.start_all())
        yield stack
    finally:
        stack.stop_all()
