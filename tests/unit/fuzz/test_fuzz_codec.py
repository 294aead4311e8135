"""Bad input sweep of the event and command codecs: every input ends as a model or DecodeError.

A consumer loop dead-letters a DecodeError and goes on; any other exception would kill it. So
whatever arrives (random bytes, valid JSON of the wrong shape, a golden example with one field
deleted, replaced or added) must decode or raise DecodeError, nothing else. Bounded: a fixed
number of derandomised examples per property, no shrinking budget beyond hypothesis' default.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dicompress_schemas import DecodeError, decode_command, decode_event
from dicompress_schemas.events import EventBase
from dicompress_schemas.golden import examples_dir

EXAMPLES_DIR = examples_dir()
COMMAND_EXAMPLES = {"CancelRequested.v1.json"}
EVENT_EXAMPLES = [
    json.loads(p.read_text()) for p in sorted(EXAMPLES_DIR.glob("*.json"))
    if p.name not in COMMAND_EXAMPLES
]  # fmt: skip
COMMAND_EXAMPLES_DATA = [json.loads((EXAMPLES_DIR / name).read_text()) for name in COMMAND_EXAMPLES]

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    database=None,  # so nothing is saved between runs either
    suppress_health_check=[HealthCheck.too_slow],
)

# JSON values orjson can write (it refuses integers beyond 64 bits)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(example: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """One golden example with a field deleted, replaced by any JSON value, or one added."""
    mutated = dict(example)
    action = data.draw(st.sampled_from(["delete", "replace", "add"]))
    key = data.draw(st.sampled_from(sorted(mutated)))
    if action == "delete":
        del mutated[key]
    elif action == "replace":
        mutated[key] = data.draw(json_values)
    else:
        mutated[data.draw(st.text(max_size=12))] = data.draw(json_values)
    return mutated


def _outcome(decode: Callable[[Any], BaseModel], payload: bytes | dict[str, Any]) -> object:
    """What `decode` returned or the DecodeError it raised; anything else propagates."""
    try:
        return decode(payload)
    except DecodeError as exc:
        return exc


def _decodes_or_refuses_event(payload: bytes | dict[str, Any]) -> None:
    outcome = _outcome(decode_event, payload)
    if isinstance(outcome, DecodeError):
        assert outcome.reason, "a DecodeError must say why, for the dead-letter header"
    else:
        assert isinstance(outcome, EventBase)


def _decodes_or_refuses_command(payload: bytes | dict[str, Any]) -> None:
    outcome = _outcome(decode_command, payload)
    if isinstance(outcome, DecodeError):
        assert outcome.reason
    else:
        assert isinstance(outcome, BaseModel)


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_codec_arbitrary_bytes_are_refused_cleanly(payload: bytes) -> None:
    _decodes_or_refuses_event(payload)
    _decodes_or_refuses_command(payload)


@FUZZ
@given(json_values)
def test_fuzz_codec_arbitrary_json_is_refused_cleanly(value: Any) -> None:
    payload = orjson.dumps(value)
    _decodes_or_refuses_event(payload)
    _decodes_or_refuses_command(payload)


@FUZZ
@given(st.data())
def test_fuzz_codec_mutated_events_decode_or_refuse(data: st.DataObject) -> None:
    mutated = _mutate(data.draw(st.sampled_from(EVENT_EXAMPLES)), data)
    _decodes_or_refuses_event(mutated)
    _decodes_or_refuses_event(orjson.dumps(mutated))


@FUZZ
@given(st.data())
def test_fuzz_codec_mutated_commands_decode_or_refuse(data: st.DataObject) -> None:
    mutated = _mutate(data.draw(st.sampled_from(COMMAND_EXAMPLES_DATA)), data)
    _decodes_or_refuses_command(mutated)
    _decodes_or_refuses_command(orjson.dumps(mutated))


@FUZZ
@given(st.data())
def test_fuzz_codec_truncated_events_are_refused(data: st.DataObject) -> None:
    raw = orjson.dumps(data.draw(st.sampled_from(EVENT_EXAMPLES)))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    _decodes_or_refuses_event(raw[:cut])
