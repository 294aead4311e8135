"""Broker configuration, service table, state file model and CLI parsing: no I/O."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dicompress_stack.cli import build_parser, main
from dicompress_stack.config import StackConfig
from dicompress_stack.kafka.broker import cluster_id, server_properties
from dicompress_stack.services import SERVICES
from dicompress_stack.state import ProcessRecord, StackState


def test_broker_keeps_the_log_forever_and_creates_no_topic_by_itself() -> None:
    text = server_properties(19092, 19093, Path("/data/kafka"))
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["log.retention.ms"] == "-1"
    assert props["auto.create.topics.enable"] == "false"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == "/data/kafka"
    assert props["offsets.topic.replication.factor"] == "1"


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", value) for value in ids)


def test_services_start_projection_first_and_api_last() -> None:
    assert [spec.name for spec in SERVICES] == [
        "progress",
        "compressor",
        "ingest",
        "products",
        "renderer",
        "notifier",
        "api",
    ]
    progress = SERVICES[0]
    assert progress.argv("py") == ["py", "-m", "dicompress_progress", "worker", "-l", "info"]
    assert SERVICES[-1].argv("py") == ["py", "-m", "dicompress_api"]
    assert progress.health_url(18001) == "http://127.0.0.1:18001/healthz"
    assert [spec.port_env for spec in SERVICES] == [
        "PROGRESS_WEB_PORT",
        "COMPRESSOR_HEALTH_PORT",
        "INGEST_HEALTH_PORT",
        "PRODUCTS_HEALTH_PORT",
        "RENDERER_HEALTH_PORT",
        "NOTIFIER_PORT",
        "API_PORT",
    ]


def test_state_round_trips_through_json() -> None:
    state = StackState(
        config=StackConfig(data_dir=Path("/d"), api_port=18100),
        started_at="2025-01-01T00:00:00+00:00",
        endpoints={"API_URL": "http://127.0.0.1:18100"},
        processes=(ProcessRecord(name="kafka", pid=42, marker="kafka.Kafka", log=Path("/d/k")),),
    )
    again = StackState.model_validate_json(state.model_dump_json())
    assert again == state
    assert again.config.api_url == "http://127.0.0.1:18100"


def test_cli_global_data_dir_and_token_tenant() -> None:
    args = build_parser().parse_args(["--data-dir", "/x", "token", "--tenant", "acme"])
    assert (args.data_dir, args.command, args.tenant) == (Path("/x"), "token", "acme")


def test_cli_passes_demo_options_through() -> None:
    args, rest = build_parser().parse_known_args(["demo", "--slices", "20", "--help"])
    assert args.command == "demo"
    assert rest == ["--slices", "20", "--help"]


def test_cli_refuses_unknown_options_of_other_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["env", "--bogus"])
    assert exit_info.value.code == 2
    assert "--bogus" in capsys.readouterr().err
