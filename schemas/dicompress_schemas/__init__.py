"""The event contract of dicompress: event models, their codec and the topic names.

Every service, and every other team's service that subscribes to our topics, depends on this
package and nothing else of ours. Change it deliberately: `tests/contract` fails when a committed
JSON Schema no longer matches the models.
"""

from dicompress_schemas.codec import (
    DecodeError,
    decode_event,
    decode_ingest_event,
    encode_event,
    event_key,
    ingest_event_key,
)
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
from dicompress_schemas.products import (
    ImageRendered,
    ProductKind,
    ProductParams,
    ProductRequested,
)
from dicompress_schemas.studies import (
    INGEST_EVENT_TYPES,
    ArchiveUploaded,
    ImageHeader,
    IngestCompleted,
    IngestEvent,
    IngestEventBase,
    IngestFailed,
    IngestStarted,
    IngestTerminal,
    InstanceKind,
    InstanceStored,
    MemberRejected,
    UploadChannel,
    new_ingest_event_id,
    study_id,
)
from dicompress_schemas.topics import Lane, Topics

__all__ = [
    "COMMAND_TYPES",
    "EVENT_TYPES",
    "INGEST_EVENT_TYPES",
    "ArchiveUploaded",
    "CancelRequested",
    "Codec",
    "Command",
    "CompressionRequested",
    "DecodeError",
    "Event",
    "EventBase",
    "ImageHeader",
    "ImageRendered",
    "IngestCompleted",
    "IngestEvent",
    "IngestEventBase",
    "IngestFailed",
    "IngestStarted",
    "IngestTerminal",
    "InstanceKind",
    "InstanceStored",
    "JobCancelled",
    "JobCompleted",
    "JobFailed",
    "JobStarted",
    "Lane",
    "MemberRejected",
    "ProductKind",
    "ProductParams",
    "ProductRequested",
    "SliceEncoded",
    "SliceFailed",
    "TerminalEvent",
    "Topics",
    "UploadChannel",
    "decode_command",
    "decode_event",
    "decode_ingest_event",
    "encode_command",
    "encode_event",
    "event_key",
    "ingest_event_key",
    "new_event_id",
    "new_ingest_event_id",
    "study_id",
]
