"""The env axis split over 4 CPU devices (``tests/distributed/sharded_runs.py``, run once in a
fresh Python with 4 forced devices): each device holds a quarter of the envs; rollouts, evaluation
and the learners (PPO, multi-agent PPO, the calibrator) agree with 1 device within the stated
tolerances; bad device counts are refused.

The tolerances (also in docs/distributed.md):

- environments: discrete values (integers, booleans: inventories, fills, clocks, venues, episode
  ends) and the random keys are bitwise equal on any device count, since each env draws from the
  key of its global index. Floats agree to ``ENV_RTOL`` of each array's scale, not bitwise: XLA
  compiles each device count's program on its own, and its algebraic rewrites differ (seen: a
  division by a shared scalar becomes a multiplication by its reciprocal in one program and not in
  the other, 1 ulp apart).
- learners: the sums over envs (losses, gradients, statistics) are reduced across devices in
  another order, so parameters after a few updates agree to ``LEARNER_RTOL`` of their scale.
"""

from __future__ import annotations

import fcntl
import json

import pytest

from tests.distributed.devices import run_module
from tests.distributed.sharded_runs import NUM_ENVS

pytestmark = pytest.mark.xdist_group("devices")

DEVICES = 4
ENV_RTOL = 1e-6  # float env values vs 1 device, relative to the array's largest |value| (seen: <= 1.1e-7)
LEARNER_RTOL = 1e-5  # parameters after 4-12 updates vs 1 device, relative to the leaf's largest |value| (seen: <= 3e-7)
ENV_RUNS = ("vec_mm", "vec_mm_per_env", "evaluate_mm", "evaluate_otc", "ppo_env_state")
LEARNER_RUNS = ("ppo_params", "mappo_params", "calibration")


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The script's results, computed once for the whole session: every pytest-xdist worker shares
    the base temporary folder's parent, and the first to take the lock runs the script."""
    shared = tmp_path_factory.getbasetemp().parent
    out = shared / "sharded_runs.json"
    with open(shared / "sharded_runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.is_file():
            run_module("tests.distributed.sharded_runs", str(out), devices=DEVICES)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return json.loads(out.read_text())


def test_each_device_holds_a_quarter_of_the_envs(results: dict) -> None:
    assert results["devices"] == DEVICES
    for name, by_count in results["shards"].items():
        if name == "ppo_params":  # replicated: a whole copy on each device
            assert all(len(rows) == DEVICES and len(set(rows)) == 1 for rows in by_count[str(DEVICES)]), by_count
            continue
        assert all(rows == [NUM_ENVS // DEVICES * (2 if name == "calibration_env_state" else 1)] * DEVICES
                   for rows in by_count[str(DEVICES)]), (name, by_count[str(DEVICES)])
        assert all(len(rows) == 1 for rows in by_count["1"]), (name, by_count["1"])
    assert all(rows == [NUM_ENVS // 2] * 2 for rows in results["shards"]["ppo_env_state"]["2"])


@pytest.mark.parametrize("name", ENV_RUNS)
def test_environments_match_one_device(results: dict, name: str) -> None:
    for count, leaves in results["compare"][name].items():
        for leaf in leaves:
            if leaf["discrete"]:
                assert leaf["bitwise"], (name, count, leaf)
            assert leaf["relative"] <= ENV_RTOL, (name, count, leaf)


@pytest.mark.parametrize("name", LEARNER_RUNS)
def test_learners_match_one_device_within_reduction_order(results: dict, name: str) -> None:
    counts = results["compare"][name]
    assert set(counts) == ({"2", "4"} if name == "ppo_params" else {"4"})
    for count, leaves in counts.items():
        assert len(leaves) > 1
        for leaf in leaves:
            assert leaf["relative"] <= LEARNER_RTOL, (name, count, leaf)


@pytest.mark.parametrize("name, words", [
    ("ppo_indivisible", ["num_envs = 6", "device count 4", "multiple of 4"]),
    ("ppo_too_many", ["devices = 5", "4 cpu device(s)", "[1, 4]"]),
    ("vec_env_default_all", ["num_envs = 6", "device count 4"]),
    ("evaluate_indivisible", ["num_episodes = 10", "device count 4"]),
])
def test_bad_device_counts_are_refused(results: dict, name: str, words: list[str]) -> None:
    message = results["errors"][name]
    for word in words:
        assert word in message, message


def test_evaluate_by_default_uses_the_most_devices_that_divide_its_episodes(results: dict) -> None:
    assert results["errors"]["evaluate_default_divides"] == "accepted"  # 6 episodes: 2 of the 4 devices
