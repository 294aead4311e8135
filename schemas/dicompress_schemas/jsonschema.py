"""JSON Schema files of the contract, generated from the models and committed under schemas/json/.

`python -m dicompress_schemas.jsonschema` rewrites them; `tests/contract` fails when the committed
files differ from what the models generate, so a contract change is always a visible diff.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from dicompress_schemas.commands import COMMAND_TYPES
from dicompress_schemas.events import EVENT_TYPES
from dicompress_schemas.legacy import LEGACY_EVENT_TYPES
from dicompress_schemas.studies import INGEST_EVENT_TYPES
from dicompress_schemas.tasks import TASK_TYPES

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "json"
_ID_BASE = "https://dicompress.dev/schemas/"


def schema_name(model: type[BaseModel]) -> str:
    """`{Type}.v{N}.json`; a superseded version (`legacy`) is titled as its event."""
    version = model.model_fields["version"].default
    return f"{model.model_config.get('title') or model.__name__}.v{version}.json"


def generate() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (draft 2020-12) of every event and command, each version
    (the superseded ones of `legacy` too: the log still holds them)."""
    out: dict[str, dict[str, Any]] = {}
    for model in (
        *EVENT_TYPES,
        *LEGACY_EVENT_TYPES,
        *INGEST_EVENT_TYPES,
        *COMMAND_TYPES,
        *TASK_TYPES,
    ):
        schema = model.model_json_schema(mode="serialization")
        name = schema_name(model)
        # `type` and `version` have defaults in Python, but on the wire they are always there.
        # Fields added to a version later stay optional: the log keeps messages without them.
        required = set(schema.get("required", [])) | {"type", "version"}
        required |= {"occurred_at"} & set(schema["properties"])
        schema["required"] = sorted(required)
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": _ID_BASE + name,
            **schema,
        }
    return out


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, schema in generate().items():
        path = SCHEMA_DIR / name
        data = render(schema)
        if path.exists() and path.read_bytes() == data:
            continue
        stale.append(name)
        if not args.check:
            SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if stale:
        print(("stale: " if args.check else "written: ") + ", ".join(stale))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
