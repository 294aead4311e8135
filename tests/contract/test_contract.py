"""The event contract: committed schemas match the models; every golden example validates,
decodes and round-trips; the AsyncAPI document names every event and topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from dicompress_schemas import (
    COMMAND_TYPES,
    EVENT_TYPES,
    INGEST_EVENT_TYPES,
    CompressionRequested,
    DecodeError,
    Topics,
    decode_command,
    decode_event,
    decode_ingest_event,
    encode_command,
    encode_event,
)
from dicompress_schemas.jsonschema import SCHEMA_DIR, generate, render, schema_name
from dicompress_schemas.legacy import LEGACY_EVENT_TYPES
from dicompress_schemas.tasks import TASK_TYPES, decode_task, encode_task, task_id

ROOT = Path(__file__).resolve().parents[2] / "schemas"
EXAMPLES = ROOT / "examples"
NAMES = [schema_name(model) for model in EVENT_TYPES]
INGEST_NAMES = [schema_name(model) for model in INGEST_EVENT_TYPES]
COMMAND_NAMES = [schema_name(model) for model in COMMAND_TYPES]
TASK_NAMES = [schema_name(model) for model in TASK_TYPES]
LEGACY_NAMES = [schema_name(model) for model in LEGACY_EVENT_TYPES]


def _load(path: Path) -> dict[str, Any]:
    data = orjson.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


def test_committed_schemas_equal_generated() -> None:
    generated = generate()
    committed = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(generated), "run: python -m dicompress_schemas.jsonschema"
    for name, schema in generated.items():
        assert (SCHEMA_DIR / name).read_bytes() == render(schema), (
            f"{name} changed: a contract change must be deliberate "
            "(bump the version for a breaking change, then regenerate)"
        )


@pytest.mark.parametrize("name", NAMES + LEGACY_NAMES + INGEST_NAMES + COMMAND_NAMES + TASK_NAMES)
def test_example_validates_against_committed_schema(name: str) -> None:
    schema = _load(SCHEMA_DIR / name)
    example = _load(EXAMPLES / name)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(example)


@pytest.mark.parametrize("name", NAMES)
def test_example_decodes_and_round_trips(name: str) -> None:
    raw = (EXAMPLES / name).read_bytes()
    event = decode_event(raw)
    assert f"{event.type}.v{event.version}.json" == name
    again = decode_event(encode_event(event))
    assert again == event
    original = orjson.loads(raw)
    reencoded = orjson.loads(encode_event(event))
    for key, value in original.items():
        if key == "occurred_at":
            assert decode_event(reencoded).occurred_at == event.occurred_at
        else:
            assert reencoded[key] == value, key


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_command_example_decodes_and_round_trips(name: str) -> None:
    command = decode_command((EXAMPLES / name).read_bytes())
    assert f"{command.type}.v{command.version}.json" == name
    assert decode_command(encode_command(command)) == command
    with pytest.raises(DecodeError):
        decode_command(b'{"type": "CancelRequested"}')


def test_events_written_before_a_field_was_added_still_decode() -> None:
    raw = _load(EXAMPLES / "SliceEncoded.v2.json")
    for added in ("attempt", "slice_key", "psnr_db", "max_error_hu", "sop_instance_uid"):
        raw.pop(added)
    event = decode_event(raw)
    assert event.attempt == 1
    assert getattr(event, "psnr_db", "missing") is None


@pytest.mark.parametrize("name", LEGACY_NAMES)
def test_a_superseded_version_on_the_log_decodes_into_the_current_one(name: str) -> None:
    old = _load(EXAMPLES / name)
    event = decode_event(old)
    current = next(m for m in EVENT_TYPES if m.__name__ == old["type"])
    assert isinstance(event, current)
    assert event.version == current.model_fields["version"].default > old["version"]
    lifted = event.model_dump(mode="json")
    for key, value in old.items():  # every field both versions share keeps its value
        if key in lifted and key not in ("version", "occurred_at"):
            assert lifted[key] == value, key


def test_a_v1_slice_psnr_is_not_passed_off_as_the_range_psnr() -> None:
    old = _load(EXAMPLES / "SliceEncoded.v1.json")
    assert old["psnr"] == 47.92  # against the BitsStored peak: a different measure
    event = decode_event(old)
    assert event.version == 2
    assert (getattr(event, "psnr_db", 0), getattr(event, "max_error_hu", 0)) == (None, None)
    assert getattr(event, "max_abs_error", None) == old["max_abs_error"]  # stored units in both


def test_a_v1_quality_floor_is_kept_as_the_same_number_never_a_looser_one() -> None:
    old = _load(EXAMPLES / "CompressionRequested.v1.json")
    event = decode_event(old)
    assert isinstance(event, CompressionRequested)
    assert (event.version, event.min_psnr_db) == (2, old["min_psnr"])
    no_floor = decode_event({k: v for k, v in old.items() if k != "min_psnr"})
    assert isinstance(no_floor, CompressionRequested)
    assert no_floor.min_psnr_db is None


def test_commands_go_through_the_upcaster_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    from dicompress_schemas import upcast

    raw = _load(EXAMPLES / "CancelRequested.v1.json")
    lifted = raw | {"reason": "lifted by a registered upcaster"}
    chain = {("CancelRequested", 0): lambda r: lifted}
    monkeypatch.setattr(upcast, "_CHAIN", chain)
    command = decode_command(raw | {"version": 0})
    assert command.reason == "lifted by a registered upcaster"


def test_lossless_codecs_take_no_rate_and_lossy_ones_need_one() -> None:
    raw = _load(EXAMPLES / "CompressionRequested.v2.json")
    assert isinstance(decode_event(raw | {"codec": "htj2k-lossy"}), CompressionRequested)
    lossless = {k: v for k, v in raw.items() if k != "compression_rate"}
    assert decode_event(lossless | {"codec": "j2k-lossless"}).type == "CompressionRequested"
    with pytest.raises(DecodeError, match="lossless"):
        decode_event(raw | {"codec": "j2k-lossless"})
    with pytest.raises(DecodeError, match="compression_rate is required"):
        decode_event(lossless)


def test_unknown_fields_are_ignored() -> None:
    raw = _load(EXAMPLES / "SliceEncoded.v2.json") | {"added_in_a_later_minor": 1}
    assert decode_event(raw).type == "SliceEncoded"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda r: r | {"type": "SliceEaten"}, "does not match"),
        (lambda r: r | {"version": 9}, "version"),
        (lambda r: r | {"seq": -1}, "seq"),
        (lambda r: r | {"occurred_at": "2026-11-22T09:15:07"}, "occurred_at"),
        (lambda r: {k: v for k, v in r.items() if k != "tenant"}, "tenant"),
    ],
)
def test_invalid_events_are_refused_with_a_reason(mutate: Any, fragment: str) -> None:
    raw = mutate(_load(EXAMPLES / "SliceEncoded.v2.json"))
    with pytest.raises(DecodeError, match=fragment):
        decode_event(orjson.dumps(raw))


def test_garbage_is_a_decode_error_not_a_crash() -> None:
    for data in (b"", b"\xff\xfe", b"[1,2]", b"null", b'{"type": 3}'):
        with pytest.raises(DecodeError):
            decode_event(data)


def test_asyncapi_names_every_event_and_topic() -> None:
    doc = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
    assert doc["asyncapi"].startswith("3.")
    kafka = {f"#/servers/{name}" for name, s in doc["servers"].items() if s["protocol"] == "kafka"}
    addresses = {
        channel["address"]
        for channel in doc["channels"].values()
        if {ref["$ref"] for ref in channel["servers"]} <= kafka
    }
    assert addresses == set(Topics().all())
    messages = doc["components"]["messages"]
    for model in (*EVENT_TYPES, *INGEST_EVENT_TYPES, *COMMAND_TYPES, *TASK_TYPES):
        ref = messages[model.__name__]["payload"]["$ref"]
        assert (ROOT / ref).is_file(), ref
        assert ref == f"json/{schema_name(model)}"


@pytest.mark.parametrize("name", INGEST_NAMES)
def test_ingest_example_decodes_and_round_trips(name: str) -> None:
    raw = (EXAMPLES / name).read_bytes()
    event = decode_ingest_event(raw)
    assert f"{event.type}.v{event.version}.json" == name
    assert decode_ingest_event(encode_event(event)) == event


def test_ingest_and_job_events_do_not_decode_as_each_other() -> None:
    with pytest.raises(DecodeError):
        decode_ingest_event((EXAMPLES / "JobStarted.v1.json").read_bytes())
    with pytest.raises(DecodeError):
        decode_event((EXAMPLES / "IngestStarted.v1.json").read_bytes())


def test_a_uid_that_could_escape_a_key_is_refused() -> None:
    raw = _load(EXAMPLES / "InstanceStored.v1.json")
    for uid in ("../other-tenant", "1.2/3", "1.2.3" + "4" * 70, "1..2"):
        with pytest.raises(DecodeError, match="series_instance_uid"):
            decode_ingest_event(raw | {"series_instance_uid": uid})


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_example_decodes_round_trips_and_names_itself(name: str) -> None:
    task = decode_task((EXAMPLES / name).read_bytes())
    assert f"{task.type}.v{task.version}.json" == name
    assert decode_task(encode_task(task)) == task
    assert task.task_id == task_id(task.job_id, task.slices[0].index)
    assert task.request.job_id == task.job_id
    with pytest.raises(DecodeError):
        decode_task((EXAMPLES / "CancelRequested.v1.json").read_bytes())
