"""What every layer shares, and which imports nothing of footlight but `footlight.errors`.

- the wire formats strangers send: the SDK's push payload (`payload`: base64 → gzip → JSON
  → typed shapes, bounded inflation), rrweb events (`rrweb`), OTLP exports (`otlp`:
  decoding, attribution to sessions and projects), and the depth/size checks of nested JSON
  (`nesting`);
- the records processing derives and stores keep (`records`);
- project verbose ids and int64 parsing (`ids`), IP networks of settings (`networks`), and
  the one clock (`clock`).

The edge and GraphQL layers validate with these at request time; ingest keeps what they
accept; processing reads it back with the same code; stores persist the records. Keeping
them below all of those is what lets imports only go down (see CONTRIBUTING.md).
"""
