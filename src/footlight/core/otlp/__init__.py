"""OTLP exports as footlight reads them: decoded, itemised and attributed.

The edge parses every `/v1/traces`, `/v1/metrics` and `/v1/logs` body (and every gRPC
export) with this package before it stores the body as it came, so a bad export is refused
at once; processing decodes the stored body again into plain, typed items, which
`footlight.processing.otlp` maps onto the shared records. Three private modules: `_decode`
(bytes to the export message), `_items` (the message to spans, log records and metric
points) and `_claims` (which session or project each item belongs to).

Decoding uses the OpenTelemetry proto classes (`opentelemetry-proto`) for both encodings,
so every body goes through the same schema whichever way it was sent:

* `application/x-protobuf`: the message classes parse the bytes.
* `application/json`: OTLP/JSON is *not* protobuf's canonical JSON mapping, so the body
  cannot be handed to `json_format.Parse` as it is:

  - `traceId`, `spanId` and `parentSpanId` (on spans, span links, log records and metric
    exemplars) are hex strings, where canonical JSON encodes `bytes` fields as base64. The
    browser SDK sends hex, as the OTLP spec requires; read as base64 the same characters
    would decode "successfully" into the wrong bytes (a 32-digit hex trace id is valid
    base64 for 24 bytes). So the ids are converted from hex to base64 in the decoded
    document before parsing, and anything that is not hex is refused, as the Collector
    does.
  - enums (`kind`, `status.code`, `aggregationTemporality`...) may be integers; the SDK
    sends integers. `json_format` accepts integers and names alike.
  - 64-bit integers (`startTimeUnixNano`, `intValue`...) may be strings or numbers; the SDK
    sends strings for times and numbers for `intValue`. `json_format` accepts both.
  - receivers must ignore fields they do not know (the protocol grows by adding fields),
    so parsing passes `ignore_unknown_fields=True`.
  - keys are lowerCamelCase. `json_format` also accepts the proto field names, so the id
    conversion handles both spellings to keep the two consistent.

Anything undecodable (unknown signal, content type or encoding, gzip that does not inflate
or inflates past the limit, bad JSON, JSON shaped like another signal's export, bad
protobuf, ids that are not hex or not 16/8 bytes long) raises `OtlpDecodeError` with a
message that says exactly what and where.
"""

from __future__ import annotations

from footlight.core.otlp._claims import (
    MAX_PROJECTS,
    Claims,
    claims,
    count_items,
    item_name,
    keep_attributed,
    partial_success,
)
from footlight.core.otlp._decode import (
    JSON,
    MAX_EXPORT_BYTES,
    MAX_ITEMS,
    PROJECT_ATTRIBUTES,
    PROTOBUF,
    SESSION_ATTRIBUTE,
    SESSION_ATTRIBUTES,
    Attributes,
    Export,
    Signal,
    parse_export,
    signal_of,
)
from footlight.core.otlp._items import (
    DecodedBatch,
    LogRecord,
    MetricPoint,
    Span,
    SpanEvent,
    decode_batch,
    decode_export,
    json_text,
    nonempty_text,
    project_key,
)

__all__ = [
    "JSON",
    "MAX_EXPORT_BYTES",
    "MAX_ITEMS",
    "MAX_PROJECTS",
    "PROJECT_ATTRIBUTES",
    "PROTOBUF",
    "SESSION_ATTRIBUTE",
    "SESSION_ATTRIBUTES",
    "Attributes",
    "Claims",
    "DecodedBatch",
    "Export",
    "LogRecord",
    "MetricPoint",
    "Signal",
    "Span",
    "SpanEvent",
    "claims",
    "count_items",
    "decode_batch",
    "decode_export",
    "item_name",
    "json_text",
    "keep_attributed",
    "nonempty_text",
    "parse_export",
    "partial_success",
    "project_key",
    "signal_of",
]
