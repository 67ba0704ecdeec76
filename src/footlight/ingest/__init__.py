"""Ingest: what each operation of the public graph means, and payload validation."""
