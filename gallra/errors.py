"""Errors of the front door.

Tree::

    models.errors.GallraError
    +-- ConfigError          settings missing, malformed, or a secret in the wrong place
    +-- NotFound             an id names nothing in the index
"""

from __future__ import annotations

from models.errors import GallraError

__all__ = ["ConfigError", "NotFound"]


class ConfigError(GallraError):
    """Settings are missing or wrong; the message names the setting."""


class NotFound(GallraError):
    """An id given on the command line names nothing."""
