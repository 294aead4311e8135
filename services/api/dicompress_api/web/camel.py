"""The API speaks camelCase JSON; its Python models keep snake_case names."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
