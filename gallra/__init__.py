"""gallra: keep only the client data a practice may keep, for as long as it may, and prove it."""

__version__ = "0.1.0"
