"""The nightly runs, step by step, as the start page and `gallra today` read them.

A step is named by its label (a mail source's name, "recordings", "sweep",
"backup") and records numbers and an error's type only: never a message text,
which may quote an address or a subject line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.tables import NightlyRun, RunStep

__all__ = ["RunReport", "StepReport", "finish_run", "last_run", "record_step", "start_run"]


@dataclass(frozen=True)
class StepReport:
    """One step of a run."""

    step: str
    status: str
    counts: dict[str, int]
    error_type: str
    started_at: datetime
    finished_at: datetime

    @property
    def seconds(self) -> float:
        """How long it took."""
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunReport:
    """A run and its steps."""

    run_id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    steps: list[StepReport] = field(default_factory=list)


def numbers_of(result: Any) -> dict[str, int]:
    """The numbers in a step's result: ints as they are, lists and dicts by their length."""
    if not isinstance(result, dict):
        return {}
    numbers: dict[str, int] = {}
    for key, value in result.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            numbers[str(key)] = value
        elif isinstance(value, list | dict):
            numbers[str(key)] = len(value)
    return numbers


def start_run(engine: Engine, at: datetime) -> int:
    """Record that a run started; its id."""
    with Session(engine) as session:
        run = NightlyRun(started_at=at)
        session.add(run)
        session.commit()
        assert run.id is not None
        return run.id


def record_step(
    engine: Engine,
    run_id: int,
    step: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    result: Any = None,
    error_type: str = "",
) -> None:
    """Record one finished step: ok with its numbers, or failed with the error's type."""
    with Session(engine) as session:
        session.add(
            RunStep(
                run_id=run_id,
                step=step,
                status="failed" if error_type else "ok",
                counts=json.dumps(numbers_of(result)),
                error_type=error_type,
                started_at=started_at,
                finished_at=finished_at,
            )
        )
        session.commit()


def finish_run(engine: Engine, run_id: int, at: datetime, *, failed: bool) -> None:
    """Record that a run ended, ok or failed."""
    with Session(engine) as session:
        run = session.get(NightlyRun, run_id)
        if run is not None:
            run.finished_at = at
            run.status = "failed" if failed else "ok"
            session.add(run)
            session.commit()


def last_run(session: Session) -> RunReport | None:
    """The newest run with its steps, or None before the first."""
    run = session.exec(select(NightlyRun).order_by(col(NightlyRun.id).desc()).limit(1)).first()
    if run is None or run.id is None:
        return None
    steps = session.exec(select(RunStep).where(RunStep.run_id == run.id).order_by(col(RunStep.id)))
    return RunReport(
        run.id,
        run.started_at,
        run.finished_at,
        run.status,
        [
            StepReport(
                s.step, s.status, json.loads(s.counts), s.error_type, s.started_at, s.finished_at
            )
            for s in steps
        ],
    )
