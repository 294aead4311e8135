"""Bad input sweep, longer than the tests' (issue 7 item 8): random mutations of events,
commands and DICOM slices for a time budget, with every outcome counted.

The tests (tests/unit/fuzz) run a fixed, derandomised set of cases on every `make test`; this
script runs fresh random cases (the seed is printed, so a finding can be replayed) for as long
as asked and reports what happened to them:

- events and commands: random bytes, random JSON, golden examples (schemas/examples) with a
  field deleted, replaced or added, truncated golden examples -> decoded, or DecodeError (by
  its first words); anything else is a CRASH, i.e. a message that would kill a consumer loop;
- DICOM: the synthetic 64x64 slice, plain or already JPEG 2000, truncated or with 1-8 bytes
  overwritten -> encoded, or SliceRejected (by error code); anything else is a CRASH.

    .venv/bin/python -m bench.bench_fuzz [--seconds 60] [--seed N]

Writes bench/results/fuzz.json. Exits 1 if any case crashed (the input is saved beside it).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from bench.paths import RESULTS

from dicompress_compressor.encoder import EncodeOptions, encode_slice
from dicompress_compressor.errors import SliceRejected
from dicompress_schemas import DecodeError, decode_command, decode_event
from dicompress_schemas.golden import examples_dir
from dicompress_stack.synthetic_ct import slice_bytes

EXAMPLES = examples_dir()
COMMANDS = {"CancelRequested.v1.json"}


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value orjson can write, nested a little."""
    kind = rng.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == 3:
        return rng.uniform(-1e9, 1e9)
    if kind == 4:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(12)))
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(random_json(rng, 3)): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def mutate(rng: random.Random, example: dict[str, Any]) -> dict[str, Any]:
    mutated = dict(example)
    key = rng.choice(sorted(mutated))
    action = rng.randrange(3)
    if action == 0:
        del mutated[key]
    elif action == 1:
        mutated[key] = random_json(rng)
    else:
        mutated[str(random_json(rng, 3))] = random_json(rng)
    return mutated


def message_case(rng: random.Random, events: list[bytes], commands: list[bytes]) -> bytes:
    """One payload a consumer might be handed."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(512))
    if kind == 1:
        return orjson.dumps(random_json(rng))
    golden = rng.choice(events + commands)
    if kind == 2:
        return orjson.dumps(mutate(rng, orjson.loads(golden)))
    return golden[: rng.randrange(len(golden))]


def dicom_case(rng: random.Random, plain: bytes, compressed: bytes) -> bytes:
    """A slice truncated, or with 1-8 bytes overwritten."""
    data = bytearray(rng.choice((plain, compressed)))
    if rng.random() < 0.3:
        return bytes(data[: rng.randrange(len(data))])
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def message_outcome(payload: bytes) -> str:
    outcomes = []
    for name, decode in (("event", decode_event), ("command", decode_command)):
        try:
            decode(payload)
            outcomes.append(f"{name}: decoded")
        except DecodeError as exc:
            outcomes.append(f"{name}: DecodeError {' '.join(exc.reason.split()[:3])}")
    return "; ".join(outcomes)


def dicom_outcome(data: bytes) -> str:
    try:
        encode_slice(data, EncodeOptions())
    except SliceRejected as exc:
        return f"SliceRejected {exc.code}"
    return "encoded"


def sweep(
    name: str,
    make: Callable[[random.Random], bytes],
    judge: Callable[[bytes], str],
    rng: random.Random,
    seconds: float,
) -> dict[str, Any]:
    """Run cases until `seconds` pass; a case that raises anything else is a crash."""
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    cases = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = make(rng)
        cases += 1
        try:
            outcomes[judge(data)] += 1
        except Exception as exc:  # exactly what this sweep hunts for
            path = RESULTS / f"fuzz-crash-{name}-{cases}.bin"
            path.write_bytes(data)
            crashes.append(f"{type(exc).__name__}: {exc} (input: {path.name})")
    return {"cases": cases, "crashes": crashes, "outcomes": dict(outcomes.most_common())}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="budget per sweep (60)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 - reproducible test cases, not secrets
    warnings.simplefilter("ignore")  # pydicom warns about every invalid value a flip makes

    examples = sorted(EXAMPLES.glob("*.json"))
    events = [p.read_bytes() for p in examples if p.name not in COMMANDS]
    commands = [p.read_bytes() for p in examples if p.name in COMMANDS]
    plain = slice_bytes(3, n_slices=8, size=64)
    compressed = encode_slice(plain, EncodeOptions()).data

    report = {
        "seed": seed,
        "seconds_per_sweep": args.seconds,
        "messages": sweep(
            "messages",
            lambda r: message_case(r, events, commands),
            message_outcome,
            rng,
            args.seconds,
        ),
        "dicom": sweep(
            "dicom", lambda r: dicom_case(r, plain, compressed), dicom_outcome, rng, args.seconds
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"seed {seed}, {args.seconds:g} s per sweep")
    for name in ("messages", "dicom"):
        part = report[name]
        assert isinstance(part, dict)
        print(f"\n{name}: {part['cases']} cases, {len(part['crashes'])} crashes")
        for outcome, count in list(part["outcomes"].items())[:12]:
            print(f"  {count:7d}  {outcome}")
        for crash in part["crashes"][:10]:
            print(f"  CRASH {crash}")
    crashed = any(report[n]["crashes"] for n in ("messages", "dicom"))
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
