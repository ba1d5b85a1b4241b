"""``benchmarks/sharding_throughput.py`` at its smoke sizes: the rows of the device-scaling part (in
this process, and through the device-count processes the CPU needs), the checkpoint cost and the
summary. The figures themselves measure nothing here; only their structure and signs are checked.

To stay well under 30 s, each compile here is one the checks need: the OTC rollout, multi-agent PPO
(11 s to compile alone) and the direct checkpoint comparison (a second PPO compile) are left to
``python -m benchmarks.sharding_throughput --smoke``, which the suite's ``--smoke`` runs."""

from __future__ import annotations

import json

import jax
import pytest

from benchmarks import sharding_throughput as bench
from benchmarks.figures import split_row

# compiles about twice as fast, as the suite's --smoke does; the benchmark times the same call
# (same keys) several times by design, which the tests' key-reuse check would refuse
QUICK = {"jax_disable_most_optimizations": True, "jax_debug_key_reuse": False}


@pytest.fixture(autouse=True)
def quick_compiles():
    before = {name: jax.config.values[name] for name in QUICK}
    for name, value in QUICK.items():
        jax.config.update(name, value)
    yield
    for name, value in before.items():
        jax.config.update(name, value)


IN_PROCESS = (bench.MM_VEC, bench.PPO)  # the workloads timed in this process


def test_scaling_rows_give_a_positive_rate_per_workload_and_no_overhead_on_one_device():
    one: dict[str, dict] = {}
    rows = bench.scaling_rows(1, bench.SMOKE_SIZES, IN_PROCESS, one)
    assert [bench.WORKLOAD_OF[r["what"]] for r in rows] == list(IN_PROCESS)
    assert set(one) == set(IN_PROCESS)
    for row in rows:
        name = bench.WORKLOAD_OF[row["what"]]
        assert row["workload"] == name and row["devices"] == 1 and row["num_envs"] > 0 and row["overhead"] == 0.0
        assert row[bench.RATE_FIELD[name]] > 0
        figures = {f.figure for f in split_row(row)}  # the suite reads each rate and overhead as a figure
        assert {bench.RATE_FIELD[name], "overhead"} <= figures


def test_overhead_is_the_one_device_rate_over_the_rate_minus_one():
    one = {bench.PPO: {"what": bench.WHAT[bench.PPO], "env_steps_per_s": 300}}
    row = {"what": bench.WHAT[bench.PPO], "devices": 4, "env_steps_per_s": 200, "device": "cpu", "date": "d"}
    out = bench.with_overhead(row, one)
    assert out["overhead"] == 0.5 and list(out)[-2:] == ["device", "date"]
    assert bench.with_overhead(row, {}) == row


def test_main_runs_a_device_count_in_its_own_process(capsys, monkeypatch):
    monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")  # the process compiles as fast as this one
    status = bench.main(["--smoke", "--devices", "2", "--workloads", bench.MM_VEC, "--no-checkpoint"])
    out = capsys.readouterr().out
    assert status == 0
    (row,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert row["devices"] == 2 and row["num_envs"] == bench.SMOKE_SIZES.vec_envs and row["env_steps_per_s"] > 0
    assert "2 device" in row["device"]  # that process saw two forced CPU devices
    assert "overhead" not in row and "no 1-device rate" in out  # no 1-device process ran


def test_checkpoint_cost_and_the_summary():
    row, detail = bench.checkpoint_cost(bench.SMOKE_SIZES, chunks=2, repeats=1)
    assert row["chunks"] == 2 and row["pairs"] == 1 and row["num_envs"] == bench.SMOKE_SIZES.ppo_envs
    assert row["overhead"] == pytest.approx(row["wall_s"] / bench.loop.CHECKPOINT_INTERVAL_S, abs=1e-6)
    assert {f.figure for f in split_row(row)} == {"wall_s", "overhead"}
    assert detail["chunk_s"] > 0 and len(detail["costs"]) == 1
    assert all(t > 0 for t in detail["every"] + detail["final"])
    # the direct comparison's part of the summary, on made-up runs
    long_row = {"interval_s": 60.0, "overhead": 0.01}
    long_detail = {"timed": [101.0], "final": [100.0], "counts": [3], "overheads": [0.01], "env_steps": 1000,
                   "chunks": 10}
    text = bench.summary([], (row, detail), (long_row, long_detail))
    assert "one checkpoint" in text and "target < 2%" in text and "+1.00%" in text
