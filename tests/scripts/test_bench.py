"""`make bench`'s arithmetic and report on synthetic numbers: no model, no server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scripts.bench.__main__ import parse_args
from scripts.bench.chart import write_chart
from scripts.bench.load import poisson_arrivals
from scripts.bench.records import Load, Point, Sample
from scripts.bench.report import build_report
from scripts.bench.stats import headline, percentile, summarize, verdicts
from scripts.bench.table import format_table
from scripts.bench.workload import DEFAULT_BATCH, load_plan, make_plan


def point(system: str, load: str, throughput: float, p50: float, p99: float, **extra) -> Point:
    return Point(
        system=system,
        load=load,
        offered=extra.pop("offered", None),
        clients=extra.pop("clients", None),
        throughput=throughput,
        p50_ms=p50,
        p95_ms=(p50 + p99) / 2,
        p99_ms=p99,
        completed=100,
        **extra,
    )


POINTS = [
    point("raw", "batch 1", 100.0, 10.0, 12.0, batch_size=1),
    point("raw", "batch 32", 250.0, 128.0, 140.0, batch_size=32),
    point("naive", "0.1x raw", 25.0, 30.0, 60.0, offered=25.0),
    point("naive", "saturation", 80.0, 900.0, 2000.0, clients=128),
    point("platform", "0.1x raw", 25.0, 13.0, 31.0, offered=25.0, cpu_cores={"api": 0.2, "worker": 0.5}),
    point("platform", "0.5x raw", 125.0, 20.0, 50.0, offered=125.0),
    point("platform", "saturation", 200.0, 500.0, 900.0, clients=128),
]


@pytest.mark.parametrize("q", [0, 1, 50, 95, 99, 100])
def test_percentile_matches_numpy(q):
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="nothing"):
        percentile([], 50)


def test_summarize_counts_latency_by_send_time_and_throughput_by_finish_time():
    samples = [
        Sample(sent=0.5, done=1.5),  # sent in warm-up, finished in the window: throughput only
        Sample(sent=1.0, done=1.1),
        Sample(sent=2.0, done=2.3),
        Sample(sent=2.5, done=3.5),  # finished after the window: latency only
        Sample(sent=2.6, done=2.7, error="RuntimeError: boom"),
    ]
    result = summarize("platform", Load("x", rate=2.0), samples, (1.0, 3.0), unfinished=1)
    assert result.throughput == pytest.approx(3 / 2.0)
    assert result.completed == 3
    assert result.errors == 1
    assert result.unfinished == 1
    assert result.p50_ms == pytest.approx(300.0)
    assert result.error_examples == {"RuntimeError: boom": 1}


def test_summarize_reads_the_jobs_own_metrics():
    metrics = [
        {"queue_time": 0.004, "inference_time": 0.010, "batch_size": 1},
        {"queue_time": 0.006, "inference_time": 0.030, "batch_size": 3},
    ]
    samples = [Sample(sent=1.0, done=1.1, metrics=metrics[0]), Sample(sent=1.5, done=1.6, metrics=metrics[1])]
    result = summarize("platform", Load("x", rate=2.0), samples, (1.0, 2.0))
    assert result.server == {
        "queue_p50_ms": pytest.approx(5.0),
        "inference_p50_ms": pytest.approx(20.0),
        "inference_p99_ms": pytest.approx(29.8),
        "batch_size_mean": 2.0,
    }
    assert "model p50 ms" in format_table([result], headline([result]), "noop")


def test_headline_ratios_at_saturation_and_overhead_at_the_lightest_load():
    summary = headline(POINTS)
    assert summary["raw_ceiling_jobs_per_s"] == 250.0
    assert summary["raw_best_batch_size"] == 32
    assert summary["model_batch1_ms"] == 10.0
    assert summary["platform_over_raw"] == pytest.approx(0.8)
    assert summary["platform_over_naive"] == pytest.approx(2.5)
    assert summary["light_load_jobs_per_s"] == 25.0
    assert summary["overhead_p50_ms"] == pytest.approx(3.0)
    assert summary["overhead_p99_ms"] == pytest.approx(21.0)


def test_headline_without_raw_or_naive_leaves_ratios_out():
    summary = headline([p for p in POINTS if p.system == "platform"])
    assert summary["platform_over_raw"] is None
    assert summary["platform_over_naive"] is None
    assert summary["overhead_p50_ms"] is None
    assert summary["platform_saturation_jobs_per_s"] == 200.0


def test_verdicts_apply_each_target_to_its_model():
    summary = headline(POINTS)
    verdict = verdicts(summary, "empathy-minilm")
    assert verdict["platform_over_raw"].startswith("MISSED")
    assert verdict["overhead_p50_ms"].startswith("met")
    assert verdict["overhead_p99_ms"].startswith("met")
    assert verdict["platform_saturation_jobs_per_s"].startswith("n/a")


def test_report_is_json_and_the_table_names_every_row():
    report = build_report(config={"model": "empathy-minilm"}, machine={"cores": 2}, points=POINTS, wall_seconds=1)
    again = json.loads(json.dumps(report))
    assert set(again) == {"config", "machine", "points", "summary", "targets", "wall_seconds"}
    assert len(again["points"]) == len(POINTS)
    assert {"system", "load", "offered", "throughput", "p50_ms", "p95_ms", "p99_ms"} <= set(again["points"][0])
    table = format_table(POINTS, report["summary"], "empathy-minilm")
    assert "platform/raw at saturation:   0.800" in table
    assert "platform/naive at saturation: 2.500" in table
    assert "closed x128" in table
    assert "worker" in table  # the CPU table


def test_chart_is_a_png(tmp_path):
    path = tmp_path / "report.png"
    write_chart(POINTS, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_poisson_arrivals_keep_their_rate_and_stay_in_time():
    arrivals = poisson_arrivals(200.0, 10.0, seed=1)
    assert 1800 < len(arrivals) < 2200
    assert arrivals == sorted(arrivals)
    assert arrivals[0] >= 0 and arrivals[-1] < 10.0


def test_load_plan_takes_fractions_of_the_raw_ceiling():
    args = parse_args(["--quick"])
    loads = load_plan(args, make_plan(args), POINTS)
    assert [(load.label, load.rate, load.clients) for load in loads] == [
        ("0.02x raw", 5.0, None),
        ("0.1x raw", 25.0, None),
        ("saturation", None, 128),
    ]


def test_noop_uses_fixed_rates():
    args = parse_args(["--model", "noop", "--quick", "--systems", "platform"])
    loads = load_plan(args, make_plan(args), [])
    assert [load.rate for load in loads] == [10.0, 100.0, None]
    assert loads[-1].clients == 4 * DEFAULT_BATCH
