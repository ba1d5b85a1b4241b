"""``benchmarks/interop_throughput.py`` at its smoke sizes: one line per env, path and batch size,
with positive rates and the ratios the suite reads as figures, and the summary. The figures
measure nothing here; only their structure and signs are checked (never a speed)."""

from __future__ import annotations

import json

import jax
import pytest

from benchmarks import interop_throughput as bench
from benchmarks.figures import split_row

MM = bench.ENVS[0]


@pytest.fixture(autouse=True)
def quick_compiles():
    """Compile about twice as fast, as the suite's ``--smoke`` does."""
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def expected_lines() -> list[tuple[str, str, int]]:
    lines = []
    for n in bench.SMOKE_BATCHES:
        lines.append((bench.CARTPOLE, bench.GYM_ENV if n == 1 else bench.GYM_VECTOR, n))
        lines += [(MM, bench.GYM_VECTOR, n), *([(MM, bench.GYM_ENV, n)] if n == 1 else []),
                  (MM, bench.JAX_LOOP, n), (MM, bench.JAX_SCAN, n)]
    return lines


def test_smoke_run_gives_every_path_at_every_size_with_positive_rates_and_the_ratios(capsys):
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(r["env"], r["path"], r["num_envs"]) for r in rows] == expected_lines()
    for row in rows:
        assert row["what"] == bench.WHAT and row["steps_per_env"] == bench.SMOKE_STEPS
        assert row["env_steps_per_s"] > 0
        figures = {f.figure: f for f in split_row(row)}  # the suite reads these as figures, not configuration
        expected = {"env_steps_per_s"}
        if row["env"] != bench.CARTPOLE:
            expected.add("ratio_to_cartpole")
            assert row["ratio_to_cartpole"] > 0
            if row["path"] in bench.LOOP_PATHS:
                expected.add("loop_overhead")
                assert row["loop_overhead"] > -1  # the scan's rate over a positive rate, minus 1
            if row["path"] in bench.ADAPTER_PATHS:
                expected.add("overhead")
                assert row["overhead"] > -1
        assert set(figures) == expected
        assert figures["env_steps_per_s"].batch_size == row["num_envs"]
        assert f"env={row['env']}" in figures["env_steps_per_s"].configuration
    assert "summary (smoke sizes: these figures measure nothing):" in out
    assert f"{MM}, 4 envs, {bench.GYM_VECTOR}:" in out and f"{MM}, 1 env, {bench.GYM_ENV}:" in out


def test_steps_per_env_are_capped_by_the_env_steps_per_run_and_kept_above_the_minimum():
    assert bench.steps_for(1, 1000, 1_000_000) == 1000
    assert bench.steps_for(4096, 1000, 1_000_000) == 244
    assert bench.steps_for(1_048_576, 1000, 1_000_000) == bench.MIN_STEPS


def test_nonpositive_sizes_are_refused():
    with pytest.raises(SystemExit):
        bench.parse(["--batches", "4", "0"])
