"""Ingest: sources -> items (mail archives and IMAP, recordings), parsing, tagging."""
