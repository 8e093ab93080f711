"""Prefect's environment for gallra: set before Prefect is imported.

Prefect keeps flow-run parameters and states in its own database, so that
database lives under GALLRA_HOME with the rest of the practice's data and
is pruned by the nightly flow. Nothing is sent anywhere: telemetry and
analytics are off, log lines never go to Prefect's database, results are
never persisted.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["prefect_environment"]


def prefect_environment(home: Path) -> dict[str, str]:
    """Defaults (an existing env var wins) for running flows in-process for this home."""
    wanted = {
        "GALLRA_HOME": str(home),
        "PREFECT_HOME": str(home / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        # A cold first start (database migrations) took over 20 s here.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    return {key: os.environ.get(key, value) for key, value in wanted.items()}
