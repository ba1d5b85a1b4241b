"""One calibration run from a checked ``Spec``: build the agents' trainer and the calibrator, run the
loop in jitted chunks (progress, ``log.csv``, checkpoints), evaluate the calibrated theta on fresh
episodes with the final policies, and write ``report.json``.

    spec = load("toy")
    built = build(spec, "small", method="rl")
    report, rows, state = run(built, seed=0, out="runs/calibrate/toy")
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.keys import seed_key
from jaxmarket.core.sharding import gather
from jaxmarket.data import eurusd_statistics
from jaxmarket.otc.metrics import HOUR_METRICS, parse_metric, select_metric
from jaxmarket.otc.seasonality import HOURS_PER_DAY
from training.learners import loop
from training.learners.calibration import Box, CalibrationConfig, CalibrationState, Calibrator, make_calibrator
from training.learners.mappo import MAPPOConfig, make_trainer
from training.tasks.calibrate import fields
from training.tasks.calibrate.spec import DATA_METRICS, Spec, free_entries
from training.tasks.common import RunFlags
from training.tasks.otc import train as otc_train

EVAL_SEED_OFFSET = 10_000  # the evaluation key's seed: the run's seed plus this


@dataclasses.dataclass(frozen=True)
class Built:
    """A calibration ready to run: the spec, the scale, the calibrator and what names its numbers."""

    spec: Spec
    scale: str
    calibrator: Calibrator
    entry_names: tuple[str, ...]  # the free entries (d,)
    target_names: tuple[str, ...]  # the target entries (k,)
    eval_episodes: int

    @property
    def iterations(self) -> int:
        return self.calibrator.config.iterations

    @property
    def env_steps(self) -> int:
        return self.iterations * self.calibrator.env_steps_per_iteration


def build(spec: Spec, scale: str = "small", method: str | None = None) -> Built:
    """The calibrator of ``spec`` at ``scale``, with ``method`` overriding the config's.

    Raises:
      ValueError: an unknown scale or method; a budget smaller than one outer iteration; bad free
        parameters or settings (``spec.free_entries``, ``CalibrationConfig.check``,
        ``MAPPOConfig.check``).
    """
    if scale not in spec.scales:
        raise ValueError(f"scale = {scale!r} is not in {spec.source}: valid scales are {sorted(spec.scales)}")
    size = spec.scales[scale]
    env, template = otc_train.make_env(spec.preset, spec.overrides)
    n_rounds = int(template.n_rounds)
    num_envs = size["num_envs"]
    per_iteration = num_envs * n_rounds * len(env.turn_order)
    iterations = size["env_steps"] // per_iteration
    if iterations < 1:
        raise ValueError(f"scale.{scale}.env_steps = {size['env_steps']:,} is smaller than one outer iteration: "
                         f"{per_iteration:,} env steps (num_envs {num_envs} x n_rounds {n_rounds} x "
                         f"{len(env.turn_order)} phases); valid range is [{per_iteration:,}, inf)")
    entries, low, high, start = free_entries(spec, env.config, template)
    check_hours(spec, entries, template)
    template = fields.promote(template, entries, env.config)
    cal_fields = {**spec.calibrator, "iterations": iterations, **({"method": method} if method else {})}
    cal_config = CalibrationConfig(**cal_fields)
    cal_config.check()
    ppo = MAPPOConfig(**{**spec.ppo, "num_envs": num_envs, "total_rounds": iterations * num_envs * n_rounds})
    roles = spec.roles
    learn = tuple(f for f in env.families if roles[f] == otc_train.LEARN)
    fixed = {f: otc_train.fixed_policy(f, roles[f], env) for f in env.families if roles[f] != otc_train.LEARN}
    trainer = make_trainer(dataclasses.replace(ppo, learn=learn), env, template, fixed, episode_metrics=True)
    def measure(metrics: Any) -> jax.Array:
        """The group's targeted entries (k,): each metric's mean over the group's episodes."""
        return jnp.concatenate([select_metric(metrics, t.key, t.index).mean(axis=0) for t in spec.targets])

    def apply(theta: jax.Array) -> Any:
        return fields.apply(template, entries, theta)

    target_values = np.concatenate([t.values for t in spec.targets])
    weights = np.concatenate([np.full(t.values.size, t.weight) for t in spec.targets])
    target_names = tuple(n for t in spec.targets for n in t.names())
    box = Box(tuple(e.name for e in entries), low, high)
    calibrator = make_calibrator(cal_config, trainer, box, apply, measure, target_values, weights, start, n_rounds,
                                 target_names)
    return Built(spec, scale, calibrator, box.names, target_names, size["eval_episodes"])


def covered_hours(params: Any) -> np.ndarray:
    """(24,) bool: the hours of day some round of an episode starts in (``jaxmarket.otc.seasonality``)."""
    rounds = np.arange(int(params.n_rounds))
    hours = np.floor(float(params.open_hour) + rounds * float(params.hours_per_round)).astype(np.int64) % HOURS_PER_DAY
    covered = np.zeros(HOURS_PER_DAY, bool)
    covered[hours] = True
    return covered


def check_hours(spec: Spec, entries: list[fields.Entry], params: Any) -> None:
    """Refuse what the episode's clock makes impossible: a free ``hour_profile[h]`` or a non-zero
    hour-of-day target for an hour no round of an episode starts in.

    Raises:
      ValueError: naming the free parameter or target, the hour and the hours an episode covers.
    """
    covered = covered_hours(params)
    where = f"hours {np.flatnonzero(covered).tolist()} (n_rounds, open_hour, hours_per_round)"
    for entry in entries:
        if entry.path == ("hour_profile",) and entry.index is not None and not covered[entry.index]:
            raise ValueError(f"free: {entry.name} has no effect: no round of an episode starts in hour "
                             f"{entry.index}; episodes cover {where}")
    for i, target in enumerate(spec.targets):
        if target.key in HOUR_METRICS and target.index is None:
            missed = np.flatnonzero(~covered & (target.values > 0))
            if missed.size:
                raise ValueError(f"targets[{i}] ({target.metric}) is impossible: it wants hour {int(missed[0])}, "
                                 f"which no round of an episode starts in; episodes cover {where}")
        if target.key in HOUR_METRICS and target.index is not None and not covered[target.index] \
                and target.values[0] > 0:
            raise ValueError(f"targets[{i}] ({target.metric}) is impossible: no round of an episode starts in "
                             f"hour {target.index}; episodes cover {where}")


def standard_error(values: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the first axis: ``std (ddof 1) / sqrt(n)``."""
    n = values.shape[0]
    return values.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(values.shape[1:], np.nan)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two profiles over their finite entries."""
    keep = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def report(built: Built, evaluation: dict[str, Any], env_steps: int, wall_s: float, seed: int) -> dict[str, Any]:
    """The run's report: each target entry against the evaluation, theta, the loss, profiles' correlations.

    Returns:
      ``{"config", "scale", "method", "seed", "env_steps", "wall_s", "eval_episodes", "loss", "theta",
      "targets": [{metric, target, achieved, stderr, weight}], "metrics": {name: {mean, stderr}},
      "profile_correlation": {metric: r}}`` (the last for profiles targeted or reported, against the
      bundled EUR/USD series, over the hours of day an episode covers). Shares and fractions as fractions.
    """
    spec = built.spec
    cal = built.calibrator
    episodes = {k: np.asarray(v, np.float64) for k, v in evaluation["metrics"].items()}
    rows, loss = [], 0.0
    for target in spec.targets:
        values = np.asarray(select_metric(evaluation["metrics"], target.key, target.index), np.float64)
        mean, err = values.mean(axis=0), standard_error(values)
        for name, t, m, e in zip(target.names(), target.values, mean, err):
            rows.append({"metric": name, "target": float(t), "achieved": float(m), "stderr": float(e),
                         "weight": target.weight})
            loss += target.weight * float(m - t) ** 2
    extra = {}
    for name in spec.report:
        key, index = parse_metric(name, cal.trainer.env.config)
        values = np.asarray(select_metric(evaluation["metrics"], key, index), np.float64)
        extra[name] = {"mean": values.mean(axis=0).tolist(), "stderr": standard_error(values).tolist()}
    correlations = {}
    data = eurusd_statistics()
    profile_names = {t.key for t in spec.targets} | {parse_metric(n, cal.trainer.env.config)[0] for n in spec.report}
    for key in sorted(profile_names & set(DATA_METRICS) - {"realized_vol"}):
        covered = covered_hours(cal.trainer.env_params)  # hours outside the episode's clock are left out
        correlations[key] = correlation(episodes[key].mean(axis=0)[covered], np.asarray(data[key], np.float64)[covered])
    theta = np.asarray(evaluation["theta"], np.float64)
    return {
        "config": spec.source, "scale": built.scale, "method": cal.config.method, "seed": seed,
        "env_steps": int(env_steps), "wall_s": round(wall_s, 1), "eval_episodes": int(episodes["flow_ecn"].shape[0]),
        "loss": loss, "theta": dict(zip(built.entry_names, theta.tolist())), "targets": rows, "metrics": extra,
        "profile_correlation": correlations,
    }


def run(built: Built, seed: int = 0, out: str | Path | None = None, flags: RunFlags | None = None
        ) -> tuple[dict[str, Any], list[dict[str, float]], CalibrationState]:
    """Calibrate, evaluate on fresh episodes and (with ``out``) write ``log.csv``, ``final/`` and ``report.json``
    (``loop.run``: resumable checkpoints in ``out/checkpoints``, as ``flags`` say; default ``RunFlags()``).

    Returns:
      ``(report, log rows, final state)``.

    Raises:
      ValueError: ``seed`` is not an int in range.
    """
    key = seed_key(seed, "--seed")
    start = time.perf_counter()
    metadata = {"calibration": built.spec.source, "scale": built.scale, "env_id": otc_train.ENV_ID,
                "preset": built.spec.preset, "roles": built.spec.roles}
    flags = RunFlags() if flags is None else flags
    state, rows = loop.run(built.calibrator, key, metadata={**metadata, "seed": seed}, out_dir=out,
                           progress=flags.progress, checkpoint_interval=flags.checkpoint_interval,
                           keep_checkpoints=flags.keep_checkpoints)
    wall = time.perf_counter() - start
    evaluate = jax.jit(built.calibrator.evaluate, static_argnums=2)
    evaluation = gather(evaluate(state, seed_key(seed + EVAL_SEED_OFFSET, "--seed"), built.eval_episodes))
    result = report(built, evaluation, built.env_steps, wall, seed)
    if out is not None and jax.process_index() == 0:
        (Path(out) / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    return result, rows, state
