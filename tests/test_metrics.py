"""bot.metrics: counters, gauges, the Prometheus text format, and the store's job gauges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.job_states import JobState
from bot.metrics import JobGauges, Metrics, Sample, read_job_gauges, render
from bot.store import Store
from tests.test_store import job_values

LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="([^"\\]|\\.)*",?)*\})? \S+$')


def parse(text: str) -> dict[str, float]:
    """Every sample line of an exposition, checked against the format's grammar."""
    assert text.endswith("\n")
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:]\w* .+$", line), line
            continue
        assert LINE.match(line), line
        key, value = line.rsplit(" ", 1)
        values[key] = float(value)
    return values


def test_counters_add_up_by_label_and_render() -> None:
    metrics = Metrics()
    metrics.describe("atelier_callbacks_total", "counter", "Callbacks.")
    metrics.inc("atelier_callbacks_total", outcome="accepted")
    metrics.inc("atelier_callbacks_total", 2, outcome="accepted")
    metrics.inc("atelier_callbacks_total", outcome="dropped")
    text = render(metrics.samples())
    assert "# TYPE atelier_callbacks_total counter" in text
    assert "# HELP atelier_callbacks_total Callbacks." in text
    values = parse(text)
    assert values['atelier_callbacks_total{outcome="accepted"}'] == 3
    assert values['atelier_callbacks_total{outcome="dropped"}'] == 1
    assert text.count("# TYPE atelier_callbacks_total") == 1


def test_counters_never_go_down_and_kinds_do_not_mix() -> None:
    metrics = Metrics()
    metrics.inc("a_total")
    with pytest.raises(ValueError):
        metrics.inc("a_total", -1)
    with pytest.raises(ValueError):
        metrics.set("a_total", 3)
    metrics.set("g", 2.5)
    metrics.set("g", 1.5)
    assert metrics.value("g") == 1.5
    with pytest.raises(ValueError):
        metrics.describe("bad name", "gauge", "")
    with pytest.raises(ValueError):
        metrics.inc("b_total", **{"bad-label": "x"})


def test_label_values_are_escaped() -> None:
    text = render([Sample("x", 1, (("why", 'a "b"\\c\nd'),))])
    assert 'x{why="a \\"b\\"\\\\c\\nd"} 1' in text
    parse(text)


def test_numbers_render_as_prometheus_reads_them() -> None:
    text = render(
        [
            Sample("a", 3.0),
            Sample("b", 0.25),
            Sample("c", float("nan")),
            Sample("d", float("inf")),
        ]
    )
    assert "a 3\n" in text and "b 0.25\n" in text
    assert "c NaN\n" in text and "d +Inf\n" in text


def test_job_gauges_list_every_state_and_count_the_unfinished() -> None:
    gauges = JobGauges({"running": 2, "delivered": 5, "accepted": 1}, 42.0)
    values = parse(render(gauges.samples()))
    for state in JobState:
        assert f'atelier_jobs{{state="{state.value}"}}' in values
    assert values['atelier_jobs{state="running"}'] == 2
    assert values['atelier_jobs{state="lost"}'] == 0
    assert values["atelier_oldest_unfinished_job_age_seconds"] == 42
    assert gauges.unfinished == 3


async def test_the_store_reports_the_oldest_unfinished_job(tmp_path: Path) -> None:
    now = [1000.0]
    store = await Store.open(tmp_path / "a.db", clock=lambda: now[0])
    try:
        assert (await read_job_gauges(store, 2000.0)).oldest_unfinished_age is None
        first = await store.create_job(job_values())
        now[0] = 1100.0
        await store.create_job(job_values())
        gauges = await read_job_gauges(store, 1500.0)
        assert gauges.oldest_unfinished_age == 500.0
        assert gauges.by_state == {"accepted": 2}
        await store.transition(first.id, JobState.ACCEPTED, JobState.CANCELLED, "test")
        gauges = await read_job_gauges(store, 1500.0)
        assert gauges.oldest_unfinished_age == 400.0  # the finished one no longer counts
        assert gauges.unfinished == 1
    finally:
        await store.close()
