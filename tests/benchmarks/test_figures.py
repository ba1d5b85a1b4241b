"""The benchmark drivers' reading of JSON lines (``benchmarks/figures.py``) and the A/B ratios of
``benchmarks/compare_trees.py``, on hand-written lines (nothing is timed)."""

from __future__ import annotations

import pytest

from benchmarks.compare_trees import Run, command, compare
from benchmarks.figures import HIGHER, LOWER, split_row

LOB_LINE = {"what": "lob messages/s", "num_books": 1024, "capacity": 128, "halts": False, "msgs_per_s": 1.5e6,
            "device": "cpu", "date": "2026-11-30"}


def test_a_line_splits_into_figures_batch_and_configuration():
    (figure,) = split_row(LOB_LINE)
    assert (figure.figure, figure.value, figure.unit, figure.better) == ("msgs_per_s", 1.5e6, "messages/s", HIGHER)
    assert figure.batch_size == 1024
    assert figure.configuration == "capacity=128 halts=False"
    assert (figure.device, figure.date) == ("cpu", "2026-11-30")


def test_otc_columns_and_wall_times_are_figures_and_null_values_are_skipped():
    row = {"what": "otc", "num_envs": 64, "4x16_vec": 2.0e5, "4x16_vmap": None, "wall_s": 3.0}
    figures = {f.figure: f for f in split_row(row)}
    assert set(figures) == {"4x16_vec", "wall_s"}
    assert figures["wall_s"].better == LOWER and figures["4x16_vec"].unit == "env steps/s"


def _run(tree: str, pair: int, value: float) -> Run:
    return Run(tree=tree, pair=pair, invocation=0, status="ok", wall_s=1.0,
               figures=split_row({**LOB_LINE, "msgs_per_s": value}))


def test_compare_takes_the_median_of_the_pairwise_ratios():
    runs = [_run("A", 0, 100.0), _run("B", 0, 90.0), _run("A", 1, 200.0), _run("B", 1, 220.0),
            _run("A", 2, 100.0), _run("B", 2, 100.0)]
    (row,) = compare(runs, ["lob_throughput --batches 1024"])
    assert row["pairs"] == 3
    assert row["median_ratio"] == pytest.approx(1.0)  # ratios 0.9, 1.1, 1.0
    assert (row["min_ratio"], row["max_ratio"]) == (pytest.approx(0.9), pytest.approx(1.1))
    assert (row["median_a"], row["median_b"]) == (100.0, 100.0)


def test_a_pair_missing_in_one_tree_has_no_ratio():
    (row,) = compare([_run("A", 0, 100.0), _run("B", 1, 90.0)], ["lob_throughput"])
    assert row["pairs"] == 0 and row["median_ratio"] is None


def test_an_invocation_names_a_benchmark_module():
    assert command("benchmarks/lob_throughput.py --batches 8")[1:] == ["-m", "benchmarks.lob_throughput", "--batches", "8"]
    with pytest.raises(ValueError, match="invocation"):
        command("   ")
