"""``jaxmarket calibrate CONFIG``: calibrate the OTC market to a config's targets (``toy``, ``eurusd`` or a
TOML file; ``training.tasks.calibrate.spec``), print and write the report, plot the convergence;
``--compare`` runs the RL calibrator and CMA-ES over ``--seeds`` seeds each at the same env steps."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import jax
import numpy as np
import tyro

from jaxmarket.core.keys import seed_key
from jaxmarket.core.validation import check_int
from jaxmarket.data import eurusd_statistics
from training.learners.calibration import METHODS
from training.tasks.calibrate import plots
from training.tasks.calibrate.run import Built, build, run, standard_error
from training.tasks.calibrate.spec import load
from training.tasks.common import RunFlags, platform
from training.tasks.registry import register

DEFAULT_OUT = "runs/calibrate"


@dataclasses.dataclass(frozen=True)
class CalibrateConfig(RunFlags):
    """Calibrate the OTC market until the learned market hits a config's target statistics (the agents
    learn alongside); writes log.csv, checkpoints, report.json and plots."""

    config: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="CONFIG")] = dataclasses.field(kw_only=True)
    """toy or eurusd (the shipped configs), or a path to a TOML file"""
    scale: Literal["small", "full"] = "small"
    """the config's size: small (a 2-core CPU, minutes) or full (a GPU)"""
    method: Literal["rl", "cma_es"] | None = None
    """the calibrator: rl (policy gradient) or cma_es (evosax); default: the config's"""
    seed: int = 0
    """seed of the (first) run"""
    compare: bool = False
    """run both calibrators over --seeds seeds each and write comparison.md, .json and .png"""
    seeds: int = 3
    """seeds per calibrator with --compare"""
    out: str | None = None
    """output folder; None: runs/calibrate/<config name>"""


def out_dir(config: CalibrateConfig) -> Path:
    """``--out``, or ``runs/calibrate/<config name>``."""
    return Path(config.out) if config.out else Path(DEFAULT_OUT) / Path(config.config).stem


def format_report(report: dict[str, Any]) -> str:
    """The report as markdown: each target entry against the achieved value, theta, correlations."""
    lines = [f"Calibration of {report['config']} ({report['method']}, scale {report['scale']}, seed {report['seed']}): "
             f"{report['env_steps']:,} env steps in {report['wall_s']} s; evaluated on {report['eval_episodes']} "
             f"fresh episodes; final loss {report['loss']:.4g}", "",
             "| metric | target | achieved | s.e. |", "|---|---:|---:|---:|"]
    lines += [f"| {t['metric']} | {t['target']:.4g} | {t['achieved']:.4g} | {t['stderr']:.2g} |"
              for t in report["targets"]]
    lines += ["", "| theta | value |", "|---|---:|"]
    lines += [f"| {name} | {value:.4g} |" for name, value in report["theta"].items()]
    if report["profile_correlation"]:
        lines += ["", "Correlation with the EUR/USD 2017 hour-of-day profile: " + ", ".join(
            f"{k} {v:.3f}" for k, v in report["profile_correlation"].items())]
    return "\n".join(lines)


def single(config: CalibrateConfig, built: Built) -> None:
    """One run: train, report, plots."""
    seed_key(config.seed, "--seed")  # refused before anything prints
    folder = out_dir(config)
    print(f"calibrating {built.spec.source} with {built.calibrator.config.method} at scale {built.scale}: "
          f"{built.iterations} outer iterations, {built.env_steps:,} env steps, "
          f"on {platform(built.calibrator.trainer.mesh.size)}")
    report, rows, _ = run(built, config.seed, folder, config)
    write_outputs(built, report, rows, folder)


def write_outputs(built: Built, report: dict[str, Any], rows: list[dict[str, float]], folder: Path) -> None:
    """Print the report and write ``report.md``, ``calibration.png`` and (with profiles) ``profiles.png``
    (process 0 of a multi-process run only)."""
    if jax.process_index():
        return
    text = format_report(report)
    (folder / "report.md").write_text(text + "\n")
    print(text)
    box = built.calibrator.box
    title = f"{Path(built.spec.source.split()[0]).stem}: {report['method']} calibrator, seed {report['seed']}"
    bounds = {n: (float(lo), float(hi)) for n, lo, hi in zip(box.names, box.low, box.high)}
    print(f"plot: {plots.plot_run(rows, report, bounds, folder / 'calibration.png', title)}")
    profiles = {k: np.asarray(v["mean"]) for k, v in report["metrics"].items() if k.endswith("_profile")}
    if report["profile_correlation"]:
        for name in report["profile_correlation"]:
            profiles.setdefault(name, np.asarray([t["achieved"] for t in report["targets"]
                                                  if t["metric"].startswith(name + "[")]))
        real = {k: np.asarray(eurusd_statistics()[k]) for k in profiles}
        print(f"plot: {plots.plot_profiles(profiles, real, folder / 'profiles.png', 'hour-of-day profiles')}")
    print(f"report: {folder / 'report.json'}")


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (ddof 1) of a list of numbers."""
    array = np.asarray(values, np.float64)
    return float(array.mean()), float(standard_error(array))


def compare(config: CalibrateConfig) -> None:
    """Both calibrators over ``seeds`` seeds each at the same budget: a table, a JSON and a plot."""
    check_int("--seeds", config.seeds, 2)
    seed_key(config.seed, "--seed")
    spec = load(config.config)
    folder = out_dir(config)
    results: dict[str, list[dict[str, Any]]] = {}
    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for method in METHODS:
        built = build(spec, config.scale, method)
        for index in range(config.seeds):
            seed = config.seed + index
            print(f"{method}, seed {seed}: {built.env_steps:,} env steps")
            report, rows, _ = run(built, seed, folder / method / f"seed_{seed}", config)
            write_outputs(built, report, rows, folder / method / f"seed_{seed}")
            results.setdefault(method, []).append(report)
            curves.setdefault(method, []).append((np.asarray([r["env_steps"] for r in rows]),
                                                  np.asarray([r["loss"] for r in rows])))
    names = [t["metric"] for t in results[METHODS[0]][0]["targets"]]
    lines = [f"Calibrators compared on {spec.source} (scale {config.scale}, {config.seeds} seeds each, "
             f"{results[METHODS[0]][0]['env_steps']:,} env steps per run, on {platform()}): final target loss on "
             "fresh episodes, mean ± s.e. over seeds", "",
             "| method | loss | " + " | ".join(names[:8]) + " | wall s |", "|---|---:|" + "---:|" * (min(len(names), 8) + 1)]
    summary = {}
    for method, reports in results.items():
        loss = mean_se([r["loss"] for r in reports])
        cells = [mean_se([r["targets"][i]["achieved"] for r in reports]) for i in range(min(len(names), 8))]
        wall = mean_se([r["wall_s"] for r in reports])
        lines.append(f"| {method} | {loss[0]:.4g} ± {loss[1]:.2g} | "
                     + " | ".join(f"{m:.4g} ± {e:.2g}" for m, e in cells) + f" | {wall[0]:.0f} |")
        summary[method] = {"loss_mean": loss[0], "loss_se": loss[1], "losses": [r["loss"] for r in reports]}
    targets = [t["target"] for t in results[METHODS[0]][0]["targets"]][:8]
    lines.append("| target | 0 | " + " | ".join(f"{t:.4g}" for t in targets) + " | |")
    text = "\n".join(lines)
    if jax.process_index():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comparison.md").write_text(text + "\n")
    (folder / "comparison.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=2) + "\n")
    print(text)
    name = Path(spec.source.split()[0]).stem
    print(f"plot: {plots.plot_comparison(curves, folder / 'comparison.png', f'RL calibrator vs CMA-ES: {name}')}")


def run_calibrate(config: CalibrateConfig) -> None:
    """``jaxmarket calibrate``: one run, or ``--compare``.

    Raises:
        ValueError: a bad config file or setting (before anything compiles).
    """
    if config.compare:
        compare(config)
    else:
        single(config, build(load(config.config), config.scale, config.method))


register(("calibrate",), CalibrateConfig, run_calibrate,
         "calibrate the OTC market to target statistics (toy, eurusd or a TOML file)")
