"""What a resolver gets as `info.context`: the ingest service and facts about the request."""

from __future__ import annotations

import msgspec

from footlight.ingest.service import ClientInfo, Ingestor


class RequestContext(msgspec.Struct, frozen=True):
    ingest: Ingestor
    client: ClientInfo
