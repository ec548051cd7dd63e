"""Ingest: one source file -> a clean CRS84 layer stream, a report and the facts for a passport."""
