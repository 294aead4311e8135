"""The contract's golden examples (schemas/examples/{Type}.v{N}.json), loadable wherever the
contract is installed.

The wheel ships them inside the package (`dicompress_schemas/examples/`, pyproject's
force-include); a checkout reads them where they are kept, beside the package. `tests/contract`
checks every one against its model, so whatever is built from them (`histories`) is a valid
event of the current version by construction.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson

_PACKAGE = Path(__file__).resolve().parent
_NAME = re.compile(r"^(?P<type>[A-Za-z]+)\.v(?P<version>[0-9]+)\.json$")


class MissingExample(LookupError):
    """No golden example of an event type: add schemas/examples/{Type}.v{N}.json."""


def examples_dir() -> Path:
    """The folder of the golden examples: inside the installed package, else the checkout's."""
    for folder in (_PACKAGE / "examples", _PACKAGE.parent / "examples"):
        if folder.is_dir():
            return folder
    raise MissingExample(f"no examples folder in {_PACKAGE} nor beside it")


@cache
def latest_versions() -> dict[str, int]:
    """Event (or command) type -> the highest version that has a golden example."""
    versions: dict[str, int] = {}
    for path in examples_dir().glob("*.json"):
        found = _NAME.match(path.name)
        if found is not None:
            name, version = found["type"], int(found["version"])
            versions[name] = max(version, versions.get(name, 0))
    return versions


def example(type_name: str, version: int | None = None) -> dict[str, Any]:
    """The golden example of `type_name` at `version` (default: its current one), as JSON.

    A fresh copy each call, so a caller may change it freely.
    """
    if version is None:
        version = latest_versions().get(type_name)
        if version is None:
            raise MissingExample(f"no golden example of {type_name} in {examples_dir()}")
    data: dict[str, Any] = orjson.loads(_raw(type_name, version))
    return data


@cache
def _raw(type_name: str, version: int) -> bytes:
    path = examples_dir() / f"{type_name}.v{version}.json"
    if not path.is_file():
        raise MissingExample(f"no golden example {path.name} in {path.parent}")
    return path.read_bytes()
