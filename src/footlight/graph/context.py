"""What a resolver gets as `info.context`: the ingest service and facts about the request."""

from __future__ import annotations

from dataclasses import dataclass

from footlight.ingest.service import ClientInfo, Ingestor


@dataclass(frozen=True)
class RequestContext:
    ingest: Ingestor
    client: ClientInfo
