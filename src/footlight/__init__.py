"""footlight: a self-hostable session-replay backend that speaks Highlight's public ingestion API.

The request path, outside in (one package per layer):

    edge      HTTP: routing, CORS, body limits, GraphQL-over-HTTP transport rules
    graph     the public graph: schema, Go-lenient variable coercion, cached documents
    ingest    what each operation means: project ids, payload decoding and validation
    store     durable storage behind one interface (SQLite by default)
"""

__version__ = "0.1.0"
