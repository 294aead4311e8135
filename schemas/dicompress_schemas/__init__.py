"""The event contract of dicompress: event models, their codec and the topic names.

Every service, and every other team's service that subscribes to our topics, depends on this
package and nothing else of ours. Change it deliberately: `tests/contract` fails when a committed
JSON Schema no longer matches the models.
"""

from dicompress_schemas.codec import DecodeError, decode_event, encode_event, event_key
from dicompress_schemas.commands import (
    COMMAND_TYPES,
    CancelRequested,
    Command,
    decode_command,
    encode_command,
)
from dicompress_schemas.events import (
    EVENT_TYPES,
    Codec,
    CompressionRequested,
    Event,
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    TerminalEvent,
    new_event_id,
)
from dicompress_schemas.topics import Topics

__all__ = [
    "COMMAND_TYPES",
    "EVENT_TYPES",
    "CancelRequested",
    "Codec",
    "Command",
    "CompressionRequested",
    "DecodeError",
    "Event",
    "EventBase",
    "JobCancelled",
    "JobCompleted",
    "JobFailed",
    "JobStarted",
    "SliceEncoded",
    "SliceFailed",
    "TerminalEvent",
    "Topics",
    "decode_command",
    "decode_event",
    "encode_command",
    "encode_event",
    "event_key",
    "new_event_id",
]
