"""``jaxmarket plot RUN_DIR``: a run's curves from the ``log.csv`` its training command wrote
(``training.learners.loop``; ``jaxmarket train ...`` or ``jaxmarket calibrate``), with no training and no
run config: ``training_curves.png`` (episode return per learned family, the PPO loss terms, throughput against
steps) and, for a calibration, ``calibration_curves.png`` (``training.tasks.calibrate.plots.plot_calibration``:
loss, each metric against its target from ``report.json``, theta, std).

    jaxmarket plot runs/otc                 # runs/otc/training_curves.png
    jaxmarket plot runs/calibrate/toy --out figures
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from training.learners.losses import LOSS_METRICS
from training.plotting import panels, save_panels
from training.tasks.calibrate.plots import METRIC_PREFIX, STEPS, THETA_PREFIX, finite, plot_calibration
from training.tasks.registry import register

LOG = "log.csv"  # the log a run directory holds (``loop.run``)
REPORT = "report.json"  # a calibration's report (``training.tasks.calibrate.run``), read for its targets
TRAINING_PNG = "training_curves.png"
CALIBRATION_PNG = "calibration_curves.png"
STEP_UNITS = ("env_steps", "agent_steps")  # the trainers' ``step_unit``s: the log's second column
TIME_COLUMNS = ("wall_s", "steps_per_s")  # the log's third and fourth columns
LEADING = 2 + len(TIME_COLUMNS)  # columns before the trainer's log fields: update, the step unit, TIME_COLUMNS
RETURN = "episode_return"  # the return column (prefixed ``<family>_`` for multi-agent PPO and calibration)
CALIBRATION_COLUMNS = ("loss", "std")  # the calibrator's first log fields (``Calibrator.log_fields``)
PPO, MAPPO, CALIBRATION = "ppo", "mappo", "calibration"  # the kinds of log
KIND_NAMES = {PPO: "PPO", MAPPO: "multi-agent PPO", CALIBRATION: "calibration"}
EXPECTED = (f"expected a jaxmarket log: columns update, {' or '.join(STEP_UNITS)}, {', '.join(TIME_COLUMNS)}, then "
            f"a trainer's log fields (PPO: {RETURN}, {', '.join(LOSS_METRICS)}; multi-agent PPO: <family>_{RETURN} "
            f"and <family>_<loss term> per learned family; calibration: {', '.join(CALIBRATION_COLUMNS)}, "
            f"{METRIC_PREFIX}<name>..., {THETA_PREFIX}<name>..., <family>_{RETURN}...)")
FIRST_ROW_LINE = 2  # the file line of the first row (after the header), for error messages
LINE_ENDS = ("\n", "\r")  # how a complete log ends (csv writes each row with its line end)


@dataclasses.dataclass(frozen=True)
class PlotConfig:
    """Draw a run's training curves from its log.csv: training_curves.png and, for a calibration,
    calibration_curves.png."""

    run_dir: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="RUN_DIR")]
    """a run's output folder (the --out of a train or calibrate command), holding its log.csv"""
    out: str | None = None
    """the folder to write the PNGs into; None: RUN_DIR"""


@dataclasses.dataclass(frozen=True)
class LogKind:
    """What a log's columns say about its run."""

    kind: str  # PPO, MAPPO or CALIBRATION
    step_unit: str  # the step column: env_steps or agent_steps
    families: tuple[str, ...]  # the learned families with a return column; ("",) for single-agent PPO (no prefix)

    def column(self, family: str, name: str) -> str:
        """The log column of ``name`` (``episode_return``, a loss term) for ``family``."""
        return f"{family}_{name}" if family else name


def recognise(columns: Sequence[str], path: str | Path = LOG) -> LogKind:
    """The kind of run whose ``log.csv`` has these columns (its header), from the trainers' ``log_fields``.

    Args:
        columns: the header, in order: ``update``, the step unit, ``wall_s``, ``steps_per_s``, log fields.
        path: the log, named in the error.

    Returns:
        A calibration (``loss``, ``std``, ``metric:*``, ``theta:*``, per-family returns; env steps), else
        single-agent PPO (``episode_return`` and ``LOSS_METRICS``), else multi-agent PPO (per family
        ``f``: ``f_episode_return`` and ``f_<loss term>``).

    Raises:
        ValueError: the columns are none of these, naming ``path`` and what is expected.
    """
    columns = tuple(columns)
    if len(columns) < LEADING or columns[0] != "update" or columns[1] not in STEP_UNITS \
            or columns[2:LEADING] != TIME_COLUMNS:
        raise ValueError(f"{path} starts with columns {list(columns[:LEADING])}: {EXPECTED}")
    unit, fields = columns[1], columns[LEADING:]
    suffix = "_" + RETURN
    families = tuple(f[: -len(suffix)] for f in fields if f.endswith(suffix) and len(f) > len(suffix))
    present = set(fields)
    if set(CALIBRATION_COLUMNS) <= present and unit == STEPS and any(f.startswith(METRIC_PREFIX) for f in fields) \
            and any(f.startswith(THETA_PREFIX) for f in fields):
        return LogKind(CALIBRATION, unit, families)
    if {RETURN, *LOSS_METRICS} <= present:
        return LogKind(PPO, unit, ("",))
    if families and all(f"{f}_{m}" in present for f in families for m in LOSS_METRICS):
        return LogKind(MAPPO, unit, families)
    raise ValueError(f"{path} has log fields {list(fields)}, of no kind of run: {EXPECTED}")


def read_log(run_dir: str | Path) -> tuple[LogKind, list[dict[str, float]]]:
    """The kind and rows of ``RUN_DIR/log.csv``.

    Returns:
        ``(kind, rows)``: a row per logged chunk, ``{column: value}`` (steps, seconds, returns, losses; a
        return is NaN in a chunk in which no episode ended). A last line without its line end (a run
        stopped while writing it) is left out, with a note.

    Raises:
        ValueError: ``run_dir`` is not an existing folder, holds no ``log.csv``, or its log is empty, has
            only a header, has columns of no jaxmarket log (``recognise``), or a row that is not numbers
            (each naming the path and what is expected).
        OSError: the log cannot be read.
    """
    folder = Path(run_dir)
    if not folder.exists():
        raise ValueError(f"RUN_DIR = {folder} does not exist: expected a run's output folder (the --out of a "
                         f"train or calibrate command) holding its {LOG}")
    if not folder.is_dir():
        raise ValueError(f"RUN_DIR = {folder} is not a folder: expected a run's output folder (the --out of a "
                         f"train or calibrate command) holding its {LOG}")
    path = folder / LOG
    if not path.is_file():
        raise ValueError(f"{path} does not exist: expected RUN_DIR to hold the {LOG} a train or calibrate command "
                         "writes (was it given --out?)")
    try:
        with open(path, newline="") as file:
            text = file.read()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text: expected the CSV log a train or calibrate command writes") from None
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if not lines or not lines[0]:
        raise ValueError(f"{path} is empty: expected a header and a row per logged chunk")
    header, body = lines[0], lines[1:]
    kind = recognise(header, path)
    if body and not text.endswith(LINE_ENDS):  # a run stopped while writing a row leaves it without its line end
        body = body[:-1]
        print(f"note: {path}: its last line is incomplete (the run stopped while writing it) and is left out")
    rows: list[dict[str, float]] = []
    for line, values in enumerate(body, start=FIRST_ROW_LINE):
        if not values:
            continue
        if len(values) != len(header):
            raise ValueError(f"{path}, line {line}: {len(values)} values for {len(header)} columns: expected one "
                             "number per column")
        try:
            rows.append({name: float(value) for name, value in zip(header, values)})
        except ValueError:
            raise ValueError(f"{path}, line {line}: expected numbers, got {values}") from None
    if not rows:
        raise ValueError(f"{path} has a header but no rows: expected a row per logged chunk (the run wrote none "
                         "yet; plot it after its first chunk)")
    return kind, rows


def read_targets(run_dir: str | Path) -> dict[str, float]:
    """The targets of a calibration's ``RUN_DIR/report.json``: metric entry name -> target value (the
    report's ``targets``, ``[{metric, target, achieved, stderr, weight}]``); empty without a report.

    Raises:
        ValueError: the report is not JSON or has no list of ``{metric, target}`` entries (naming its path).
        OSError: the report cannot be read.
    """
    path = Path(run_dir) / REPORT
    if not path.is_file():
        return {}
    expected = "expected the report.json jaxmarket calibrate writes, with targets: [{metric, target, ...}]"
    try:
        report = json.loads(path.read_text())
        return {str(t["metric"]): float(t["target"]) for t in report["targets"]}
    except (ValueError, TypeError, KeyError) as error:  # not JSON (JSONDecodeError is a ValueError), or not that form
        raise ValueError(f"{path} is not a calibration report ({type(error).__name__}: {error}): {expected}") from None


def plot_training(kind: LogKind, rows: list[dict[str, float]], path: str | Path, title: str) -> Path:
    """A row of panels against the log's steps: the episode return per learned family (NaNs skipped),
    each PPO loss term per family (``LOSS_METRICS``; not for a calibration, whose agents' losses are not
    logged) and the throughput (steps per second of wall time, compiling excluded).

    Returns:
        The path written.
    """
    steps = np.asarray([r[kind.step_unit] for r in rows], np.float64)
    xlabel = kind.step_unit.replace("_", " ")
    losses = LOSS_METRICS if kind.kind != CALIBRATION else ()
    shown = [RETURN] if kind.families else []
    fig, axes = panels(len(shown) + len(losses) + 1)
    labelled = kind.families != ("",)
    for ax, name in zip(axes, (*shown, *losses)):
        for family in kind.families:
            ax.plot(*finite(steps, [r[kind.column(family, name)] for r in rows]), label=family or None)
        ax.set(title=name.replace("_", " ") + (" (per agent)" if labelled and name == RETURN else ""), xlabel=xlabel)
        if labelled:
            ax.legend(fontsize=7)
    axes[-1].plot(*finite(steps, [r["steps_per_s"] for r in rows]), color="black")
    axes[-1].set(title="throughput", xlabel=xlabel, ylabel=f"{xlabel} per second")
    return save_panels(fig, axes, path, title)


def run(config: PlotConfig) -> None:
    """Read ``RUN_DIR/log.csv`` (and a calibration's ``report.json``), draw ``training_curves.png`` and
    for a calibration ``calibration_curves.png`` into ``--out`` (default RUN_DIR); print their paths.

    Raises:
        ValueError: a missing RUN_DIR or log, an empty log, a log or report of the wrong form (``read_log``,
            ``read_targets``), before anything is drawn.
    """
    kind, rows = read_log(config.run_dir)
    targets = read_targets(config.run_dir) if kind.kind == CALIBRATION else {}
    folder = Path(config.out) if config.out else Path(config.run_dir)
    title = f"{Path(config.run_dir).resolve().name}: {KIND_NAMES[kind.kind]}, {len(rows)} logged chunks"
    print(f"plot: {plot_training(kind, rows, folder / TRAINING_PNG, title)}")
    if kind.kind == CALIBRATION:
        print(f"plot: {plot_calibration(rows, targets, folder / CALIBRATION_PNG, title)}")


register(("plot",), PlotConfig, run, "draw a run's training curves from its log.csv into PNGs")
