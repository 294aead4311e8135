"""The data dir's state: stack.json, the JWT secret, and the CLI commands that read them."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from dicompress_infra.auth import tenant_of
from dicompress_stack import s3
from dicompress_stack.cli import main
from dicompress_stack.config import StackConfig, load_or_create_secret
from dicompress_stack.errors import StackError
from dicompress_stack.net import free_port
from dicompress_stack.processes import pid_alive, start_process
from dicompress_stack.stack import clear_stale, running
from dicompress_stack.state import ProcessRecord, StackState, read_state, write_state

pytestmark = pytest.mark.integration


def test_no_state_means_no_stack_and_env_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not running(tmp_path)
    assert main(["--data-dir", str(tmp_path), "env"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "no stack is running" in err
    assert "dicompress up" in err


def test_garbage_state_is_no_stack(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text("{not json")
    assert read_state(tmp_path / "stack.json") is None
    assert not running(tmp_path)


def test_token_is_signed_with_the_data_dirs_own_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "token", "--tenant", "acme"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["--data-dir", str(tmp_path), "token"]) == 0
    second = capsys.readouterr().out.strip()
    secret = load_or_create_secret(StackConfig(data_dir=tmp_path))
    assert tenant_of(first, secret, "dicompress") == "acme"
    assert tenant_of(second, secret, "dicompress") == "demo"
    assert stat.S_IMODE((tmp_path / "jwt-secret").stat().st_mode) == 0o600


def test_a_half_dead_stack_is_not_running_and_its_leftovers_are_stopped(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, api_port=free_port())
    leftover = start_process(
        "kafka",
        [sys.executable, "-c", "import time; time.sleep(300)", "fake-kafka.Kafka"],
        tmp_path / "leftover.log",
    )
    try:
        write_state(
            config.state_path,
            StackState(
                config=config,
                started_at="2025-01-01T00:00:00+00:00",
                endpoints={},
                processes=(
                    ProcessRecord(
                        name="kafka", pid=leftover.pid, marker="kafka.Kafka", log=leftover.log_path
                    ),
                ),
            ),
        )
        assert read_state(config.state_path) is not None
        assert not running(tmp_path)  # the process lives, but nothing answers
        clear_stale(config)
        assert leftover.popen.wait(timeout=20) is not None
        assert not pid_alive(leftover.pid)
        assert not config.state_path.exists()
    finally:
        leftover.stop(grace_s=1)


def test_a_reused_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    stranger = start_process(
        "stranger", [sys.executable, "-c", "import time; time.sleep(300)"], tmp_path / "s.log"
    )
    try:
        write_state(
            config.state_path,
            StackState(
                config=config,
                started_at="2025-01-01T00:00:00+00:00",
                endpoints={},
                processes=(
                    ProcessRecord(name="s3", pid=stranger.pid, marker=s3.MARKER, log=Path("/x")),
                ),
            ),
        )
        clear_stale(config)
        assert stranger.alive()
    finally:
        stranger.stop(grace_s=1)


def test_a_stack_whose_owner_lives_is_not_torn_down_by_another(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
    owner = start_process("owner", [*sleep, "dicompress-up"], tmp_path / "owner.log")
    broker = start_process("kafka", [*sleep, "kafka.Kafka"], tmp_path / "kafka.log")
    try:
        write_state(
            config.state_path,
            StackState(
                config=config,
                started_at="2025-01-01T00:00:00+00:00",
                endpoints={},
                processes=(
                    ProcessRecord(
                        name="kafka", pid=broker.pid, marker="kafka.Kafka", log=Path("/k")
                    ),
                ),
                owner_pid=owner.pid,
            ),
        )
        with pytest.raises(StackError, match=f"process {owner.pid} is starting or running"):
            clear_stale(config)
        assert broker.alive()
        assert config.state_path.exists()
    finally:
        broker.stop(grace_s=1)
        owner.stop(grace_s=1)
