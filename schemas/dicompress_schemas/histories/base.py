"""What every history shares: the golden example of each event, moved onto one stream (its id,
its tenant, its clock) with the fields a caller cares about replaced, then validated by the
contract's own decoder."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from dicompress_schemas.golden import example

M = TypeVar("M", bound=BaseModel)

# When an event happened: a time, or seconds after the history's start.
Moment = datetime | float


class History:
    """What a job's and an upload's history share: the stream's identity and clock (its id
    field, tenant, start and the gap between seqs) and the building of an event from a golden
    example.

    Unless told otherwise, the `seq`-th event happens `seq * step` after `start`, so the same
    call builds the same event (a redelivery is the very same fact).
    """

    def __init__(
        self, id_field: str, stream_id: uuid.UUID, tenant: str, start: datetime, step: timedelta
    ) -> None:
        self.id_field = id_field
        self.stream_id = stream_id
        self.tenant = tenant
        self.start = start
        self.step = step
        self._golden: dict[str, dict[str, Any]] = {}

    def at(self, seq: int, when: Moment | None = None) -> datetime:
        """The time of the `seq`-th event: `when` if given (seconds count from the start)."""
        if when is None:
            return self.start + seq * self.step
        if isinstance(when, datetime):
            return when
        return self.start + timedelta(seconds=when)

    def build(
        self,
        model: type[M],
        decode: Callable[[dict[str, Any]], object],
        envelope: dict[str, Any],
        fields: dict[str, Any],
        *,
        bare: bool = False,
    ) -> M:
        """`model`'s golden example on this stream, with `envelope` then `fields` laid over it;
        `bare` keeps only what the model requires of the example, the model's defaults for the
        rest (a request that drives a real service, without the example's options).

        A field the model does not have is refused (the contract would drop it silently).
        """
        unknown = set(fields) - set(model.model_fields)
        if unknown:
            raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
        golden = self.golden(model.__name__)
        if bare:
            required = {n for n, f in model.model_fields.items() if f.is_required()}
            golden = {k: v for k, v in golden.items() if k in required | {"type", "version"}}
        event = decode({**golden, **envelope, **fields})
        if not isinstance(event, model):
            raise TypeError(f"{model.__name__}'s example decoded as {type(event).__name__}")
        return event

    def golden(self, type_name: str) -> dict[str, Any]:
        """The current golden example of `type_name` moved onto this stream (`rebase`), once per
        history: callers lay their fields over it, never change it."""
        if type_name not in self._golden:
            self._golden[type_name] = self.rebase(example(type_name))
        return self._golden[type_name]

    def rebase(self, golden: dict[str, Any]) -> dict[str, Any]:
        """The example's values with its stream id and tenant replaced by this stream's, inside
        keys and URIs too (`clinic-a/jobs/{id}/...` -> `acme/jobs/{ours}/...`)."""
        old_id, old_tenant = str(golden[self.id_field]), str(golden["tenant"])
        tenant_segment = re.compile(rf"(^|/){re.escape(old_tenant)}/")

        def move(value: Any) -> Any:
            if isinstance(value, str):
                value = value.replace(old_id, str(self.stream_id))
                return tenant_segment.sub(lambda m: f"{m[1]}{self.tenant}/", value)
            if isinstance(value, dict):
                return {k: move(v) for k, v in value.items()}
            if isinstance(value, list):
                return [move(v) for v in value]
            return value

        moved: dict[str, Any] = move(golden)
        return moved
