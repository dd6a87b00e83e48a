"""Counters, gauges and the Prometheus text format, with no Discord in sight.

The callback listener serves :func:`render` at ``GET /metrics`` and ``/status`` reads
the same :class:`JobGauges`, so an operator's dashboard and a moderator's glance agree.
Values that live in the database (jobs by state, the oldest unfinished job) are read
when asked, not counted in memory: after a restart they are still right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.job_states import TERMINAL, JobState

if TYPE_CHECKING:
    from bot.store import Store

Kind = Literal["counter", "gauge"]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of the exposition: ``name{labels} value``."""

    name: str
    value: float
    labels: Labels = ()
    kind: Kind = "gauge"
    help: str = ""


@dataclass(frozen=True, slots=True)
class JobGauges:
    """What the store says about jobs right now."""

    by_state: Mapping[str, int]
    oldest_unfinished_age: float | None  # seconds; None when nothing is unfinished

    @property
    def unfinished(self) -> int:
        finished = {state.value for state in TERMINAL}
        return sum(n for state, n in self.by_state.items() if state not in finished)

    def samples(self) -> list[Sample]:
        counts = {state.value: 0 for state in JobState}
        counts.update(self.by_state)
        out = [
            Sample(
                "atelier_jobs",
                float(n),
                (("state", state),),
                help="Jobs in the database, by state.",
            )
            for state, n in sorted(counts.items())
        ]
        out.append(
            Sample(
                "atelier_oldest_unfinished_job_age_seconds",
                self.oldest_unfinished_age or 0.0,
                help="Age of the oldest job not yet in a final state (0 when none).",
            )
        )
        return out


async def read_job_gauges(store: Store, now: float) -> JobGauges:
    """Jobs by state and the oldest unfinished job's age, as the store has them now."""
    counts = await store.count_by_state()
    oldest = await store.oldest_unfinished_created_at()
    return JobGauges(counts, None if oldest is None else max(0.0, now - oldest))


def _labels(labels: Mapping[str, str]) -> Labels:
    for key in labels:
        if not _LABEL.match(key):
            raise ValueError(f"invalid label name {key!r}")
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


@dataclass
class Metrics:
    """In-memory counters and gauges (process-local; reset at start)."""

    _values: dict[tuple[str, Labels], float] = field(default_factory=dict)
    _meta: dict[str, tuple[Kind, str]] = field(default_factory=dict)

    def describe(self, name: str, kind: Kind, help: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        self._meta[name] = (kind, help)

    def inc(self, name: str, by: float = 1.0, **labels: str) -> None:
        """Add to a counter (counters only go up)."""
        if by < 0:
            raise ValueError("a counter cannot go down")
        self._check(name, "counter")
        key = (name, _labels(labels))
        self._values[key] = self._values.get(key, 0.0) + by

    def set(self, name: str, value: float, **labels: str) -> None:
        self._check(name, "gauge")
        self._values[(name, _labels(labels))] = float(value)

    def value(self, name: str, **labels: str) -> float:
        return self._values.get((name, _labels(labels)), 0.0)

    def samples(self) -> list[Sample]:
        out = []
        for (name, labels), value in sorted(self._values.items()):
            kind, help = self._meta[name]
            out.append(Sample(name, value, labels, kind, help))
        return out

    def _check(self, name: str, kind: Kind) -> None:
        if name not in self._meta:
            self.describe(name, kind, "")
        elif self._meta[name][0] != kind:
            raise ValueError(f"{name} is a {self._meta[name][0]}, not a {kind}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(samples: Iterable[Sample]) -> str:
    """The Prometheus text exposition format (version 0.0.4), one family at a time."""
    families: dict[str, list[Sample]] = {}
    for sample in samples:
        if not _NAME.match(sample.name):
            raise ValueError(f"invalid metric name {sample.name!r}")
        families.setdefault(sample.name, []).append(sample)
    lines: list[str] = []
    for name, members in families.items():
        first = members[0]
        if first.help:
            help_text = first.help.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {first.kind}")
        for sample in members:
            labels = ""
            if sample.labels:
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels)
                labels = "{" + inner + "}"
            lines.append(f"{name}{labels} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
