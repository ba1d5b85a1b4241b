"""``jaxmarket calibrate`` end to end at a tiny scale: the toy experiment's direction, the outputs,
the report's form; the bad-input path of the command line."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from training.cli import main
from training.tasks.calibrate.command import write_outputs
from training.tasks.calibrate.run import build, covered_hours, run
from training.tasks.common import RunFlags
from training.tasks.otc import train as otc_train
from training.tasks.calibrate.spec import load, parse, resolve

START_CONNECTIVITY = 0.3  # the toy config's start for every LP's p_connect


def tiny_toy(tmp_path: Path, iterations: int) -> Path:
    """The shipped toy config at a tiny scale: 32 envs (8 groups of 4), ``iterations`` outer iterations."""
    text, _ = resolve("toy")
    spec = parse(text, "toy")
    env_steps = iterations * 32 * 32 * 2  # num_envs x n_rounds x phases per iteration
    assert spec.scales["small"]["num_envs"] % 8 == 0
    marker = "[scale.small]"
    head = text[: text.index(marker)]
    path = tmp_path / "tiny_toy.toml"
    path.write_text(head + f"[scale.small]\nenv_steps = {env_steps}\nnum_envs = 32\neval_episodes = 64\n")
    return path


@pytest.mark.slow
def test_toy_calibration_moves_toward_its_targets(tmp_path: Path) -> None:
    """From a start where most client volume goes to the ECN (connectivity 0.3 for every LP, ECN share far
    above its 20% target), the calibrator raises the LPs' connectivity, and on fresh episodes with the
    final policies the ECN share under the calibrated theta is below its share under the start theta."""
    config = tiny_toy(tmp_path, iterations=40)
    out = tmp_path / "out"
    built = build(load(str(config)), "small")
    report, rows, state = run(built, seed=0, out=out, flags=RunFlags(progress=False))
    write_outputs(built, report, rows, out)
    assert {"targets", "theta", "env_steps", "loss", "profile_correlation"} <= set(report)
    assert report["env_steps"] == 40 * 32 * 32 * 2 == rows[-1]["env_steps"]
    assert json.loads((out / "report.json").read_text())["theta"] == report["theta"]
    assert [t["metric"] for t in report["targets"]] == ["market_share[0]", "flow_ecn"]
    for row in report["targets"]:
        assert 0.0 <= row["achieved"] <= 1.0 and row["stderr"] > 0  # fractions, not percent
    connectivity = [report["theta"][f"p_connect[{j}]"] for j in range(3)]
    assert np.mean(connectivity) > START_CONNECTIVITY + 0.15, connectivity
    for name in ("log.csv", "report.md", "calibration.png", "final"):
        assert (out / name).exists(), name

    # the direction, measured with the final policies: ECN share at the start theta vs the calibrated theta
    evaluate = jax.jit(built.calibrator.evaluate, static_argnums=2)
    start = np.array([START_CONNECTIVITY] * 3 + [0.9], np.float32)
    at_start = evaluate(state, jax.random.key(1), 64, start)["metrics"]["flow_ecn"].mean()
    calibrated = evaluate(state, jax.random.key(2), 64)["metrics"]["flow_ecn"].mean()
    assert calibrated < at_start - 0.1, (float(at_start), float(calibrated))


def test_bad_config_exits_with_one_line(tmp_path: Path) -> None:
    """An impossible target is refused before anything compiles, with the key, value and valid range."""
    text, _ = resolve("toy")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("target = 0.40", "target = 1.3"))
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", str(bad), "--out", str(tmp_path / "never")])
    message = str(exit_info.value.code)  # main exits with "jaxmarket: <the ValueError>"
    assert message.startswith("jaxmarket: ")
    assert "targets[0].target" in message and "1.3" in message and "[0.0, 1.0]" in message
    assert not (tmp_path / "never").exists()


def test_unknown_config_name() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "no_such_config"])
    assert "neither a shipped config" in str(exit_info.value.code)


def test_hours_outside_the_episode_are_refused_and_left_out() -> None:
    """With 32 fifteen-minute rounds from midnight an episode covers hours 0-7: a free multiplier of
    hour 8, or a data profile wanting volume in hour 8, is refused before anything compiles."""
    text, _ = resolve("eurusd")
    short = text.replace("n_rounds = 96", "n_rounds = 32")
    np.testing.assert_array_equal(np.flatnonzero(covered_hours(build_params(short))), np.arange(8))
    with pytest.raises(ValueError, match=r"hour_profile\[8\] has no effect.*hours \[0, 1, 2, 3, 4, 5, 6, 7\]"):
        build(parse(short, "short"), "small")
    only_volume = short.replace('field = "hour_profile"', 'field = "hour_profile[3]"')
    with pytest.raises(ValueError, match=r"targets\[1\] \(volume_profile\) is impossible: it wants hour 8"):
        build(parse(only_volume, "short"), "small")


def build_params(text: str):
    """The market parameters a config's text builds (no trainer)."""
    spec = parse(text, "cfg")
    return otc_train.make_env(spec.preset, spec.overrides)[1]
