"""Prefect flows: thin wiring over plain functions; ids in, ids out."""
