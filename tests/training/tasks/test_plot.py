"""``jaxmarket plot RUN_DIR`` on hand-written logs of the three kinds of run: the kind recognised from the
columns (the trainers' own ``log_fields``), the PNGs written, the targets read from ``report.json``, each bad
RUN_DIR refused with a ValueError naming its path, and the command line end to end. No training."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from training.cli import main
from training.learners import calibration, mappo, ppo
from training.learners.losses import LOSS_METRICS
from training.tasks.calibrate.plots import plot_run
from training.tasks.plot.command import (
    CALIBRATION,
    CALIBRATION_PNG,
    MAPPO,
    PPO,
    TRAINING_PNG,
    LogKind,
    PlotConfig,
    read_log,
    read_targets,
    recognise,
    run,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the first bytes of every PNG file
ROWS = 4  # logged chunks per synthetic log
STEPS_PER_UPDATE = 1024
FAMILIES = ("lp", "lt")
METRICS = ("market_share[0]", "flow_ecn")
THETA = ("p_connect[0]", "p_connect[1]")
TARGETS = {"market_share[0]": 0.4, "flow_ecn": 0.2}


def header(unit: str, fields: tuple[str, ...]) -> list[str]:
    """A log.csv header as ``loop.run`` writes it."""
    return ["update", unit, "wall_s", "steps_per_s", *fields]


PPO_HEADER = header(ppo.Trainer.step_unit, ppo.Trainer.log_fields)
MAPPO_HEADER = header(mappo.Trainer.step_unit, mappo.Trainer.log_fields.fget(SimpleNamespace(learned=FAMILIES)))
CALIBRATION_HEADER = header(calibration.Calibrator.step_unit, calibration.Calibrator.log_fields.fget(SimpleNamespace(
    metric_names=METRICS, box=SimpleNamespace(names=THETA), trainer=SimpleNamespace(learned=FAMILIES[:1]))))


def value(column: str, row: int) -> float:
    """A plausible value of ``column`` in row ``row``; the second row's returns are NaN (no episode ended)."""
    if column == "update":
        return row + 1
    if column in ("env_steps", "agent_steps"):
        return (row + 1) * STEPS_PER_UPDATE
    if column.endswith("episode_return"):
        return math.nan if row == 1 else -1.0 + 0.5 * row
    if column in ("loss", "std"):
        return 1.0 / (row + 1)
    return 0.1 * (row + 1)


def write_log(folder: Path, columns: list[str], rows: int = ROWS) -> Path:
    """``folder/log.csv`` with ``columns`` and ``rows`` rows of synthetic values."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "log.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for row in range(rows):
            writer.writerow([value(c, row) for c in columns])
    return folder


def write_report(folder: Path) -> None:
    """A calibration's report.json, as much of it as ``jaxmarket plot`` reads (and a little more)."""
    targets = [{"metric": m, "target": t, "achieved": t + 0.05, "stderr": 0.01, "weight": 1.0}
               for m, t in TARGETS.items()]
    (folder / "report.json").write_text(json.dumps({"targets": targets, "theta": dict.fromkeys(THETA, 0.5)}))


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0, path
    assert path.read_bytes()[: len(PNG_SIGNATURE)] == PNG_SIGNATURE, path


def test_the_trainers_columns_are_recognised() -> None:
    assert recognise(PPO_HEADER) == LogKind(PPO, "env_steps", ("",))
    assert recognise(MAPPO_HEADER) == LogKind(MAPPO, "agent_steps", FAMILIES)
    assert recognise(CALIBRATION_HEADER) == LogKind(CALIBRATION, "env_steps", FAMILIES[:1])
    assert recognise(header("agent_steps", tuple(f"lp_{m}" for m in ("episode_return", *LOSS_METRICS)))).families \
        == ("lp",)  # one learned family


@pytest.mark.parametrize("columns", [
    [],
    ["step", "env_steps", "wall_s", "steps_per_s", *PPO_HEADER[4:]],  # not update first
    header("seconds", ppo.Trainer.log_fields),  # an unknown step unit
    header("env_steps", ()),  # no log fields
    header("env_steps", ("episode_return", "value_loss")),  # PPO without its other loss terms
    header("agent_steps", ("lp_episode_return",)),  # a family without its loss terms
    header("agent_steps", ("loss", "std", "metric:x", "theta:y")),  # a calibration logs env steps
    ["a", "b", "c"],
])
def test_other_columns_are_refused_naming_the_log(columns: list[str]) -> None:
    with pytest.raises(ValueError, match="runs/x/log.csv .*expected a jaxmarket log"):
        recognise(columns, "runs/x/log.csv")


@pytest.mark.parametrize("columns, kind", [(PPO_HEADER, PPO), (MAPPO_HEADER, MAPPO)])
def test_a_training_log_gets_training_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str], columns: list[str],
                                             kind: str) -> None:
    folder = write_log(tmp_path / "run", columns)
    found, rows = read_log(folder)
    assert found.kind == kind and len(rows) == ROWS and math.isnan(rows[1][found.column(found.families[0],
                                                                                        "episode_return")])
    run(PlotConfig(str(folder)))
    assert_png(folder / TRAINING_PNG)
    assert not (folder / CALIBRATION_PNG).exists()
    assert capsys.readouterr().out == f"plot: {folder / TRAINING_PNG}\n"


def test_a_last_line_cut_short_by_a_kill_is_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_log(tmp_path / "run", PPO_HEADER)
    with open(folder / "log.csv", "a") as file:
        file.write("5,51")  # the row being written when the run stopped: no line end
    _, rows = read_log(folder)
    assert len(rows) == ROWS
    assert "its last line is incomplete" in capsys.readouterr().out


def test_a_calibration_log_gets_both_plots_with_its_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    folder = write_log(tmp_path / "run", CALIBRATION_HEADER)
    write_report(folder)
    assert read_targets(folder) == TARGETS
    out = tmp_path / "figures"
    run(PlotConfig(str(folder), out=str(out)))
    for name in (TRAINING_PNG, CALIBRATION_PNG):
        assert_png(out / name)
        assert not (folder / name).exists()  # --out, not RUN_DIR
    assert capsys.readouterr().out.splitlines() == [f"plot: {out / TRAINING_PNG}", f"plot: {out / CALIBRATION_PNG}"]


def test_a_calibration_without_a_report_is_drawn_without_targets(tmp_path: Path) -> None:
    folder = write_log(tmp_path / "run", CALIBRATION_HEADER)
    assert read_targets(folder) == {}
    run(PlotConfig(str(folder)))
    assert_png(folder / CALIBRATION_PNG)


def test_calibrates_own_plot_still_draws_theta_within_bounds(tmp_path: Path) -> None:
    """``jaxmarket calibrate``'s calibration.png goes through the same drawing (``plot_run``)."""
    folder = write_log(tmp_path / "run", CALIBRATION_HEADER)
    write_report(folder)
    _, rows = read_log(folder)
    report = {"targets": json.loads((folder / "report.json").read_text())["targets"], "theta": dict.fromkeys(THETA)}
    assert_png(plot_run(rows, report, dict.fromkeys(THETA, (0.0, 1.0)), folder / "calibration.png", "toy"))


@pytest.mark.parametrize("text", ["{not json", json.dumps({"theta": {}}), json.dumps({"targets": [{"metric": "x"}]}),
                                  json.dumps([1, 2])])
def test_a_malformed_report_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    folder = write_log(tmp_path / "run", CALIBRATION_HEADER)
    (folder / "report.json").write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{folder / 'report.json'} is not a calibration report")):
        run(PlotConfig(str(folder)))
    assert not (folder / TRAINING_PNG).exists()  # refused before drawing


def bad_run_dir(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A RUN_DIR that ``jaxmarket plot`` refuses, and the start of the message naming its path."""
    folder = tmp_path / "run"
    if case == "missing":
        return folder, f"RUN_DIR = {folder} does not exist"
    if case == "a file":
        folder.write_text("x")
        return folder, f"RUN_DIR = {folder} is not a folder"
    folder.mkdir()
    log = folder / "log.csv"
    if case == "no log":
        return folder, f"{log} does not exist"
    if case == "empty":
        log.write_text("")
        return folder, f"{log} is empty"
    if case == "header only":
        write_log(folder, PPO_HEADER, rows=0)
        return folder, f"{log} has a header but no rows"
    if case == "not a jaxmarket log":
        log.write_text("date,price\n2017-01-02,1.05\n")
        return folder, f"{log} starts with columns"
    if case == "not numbers":
        log.write_text(",".join(PPO_HEADER) + "\n" + ",".join(["x"] * len(PPO_HEADER)) + "\n")
        return folder, f"{log}, line 2: expected numbers"
    if case == "not text":
        log.write_bytes(b"\xff\xfe\x00\x81")
        return folder, f"{log} is not text"
    assert case == "short row"
    log.write_text(",".join(PPO_HEADER) + "\n1,2\n")
    return folder, f"{log}, line 2: 2 values for {len(PPO_HEADER)} columns: expected"


CASES = ("missing", "a file", "no log", "empty", "header only", "not a jaxmarket log", "not numbers", "not text",
         "short row")


@pytest.mark.parametrize("case", CASES)
def test_a_bad_run_dir_is_refused_naming_the_path(tmp_path: Path, case: str) -> None:
    folder, message = bad_run_dir(tmp_path, case)
    with pytest.raises(ValueError) as error:
        run(PlotConfig(str(folder)))
    assert str(error.value).startswith(message), str(error.value)
    assert "expected" in str(error.value)  # says what it wants
    assert not list(tmp_path.rglob("*.png"))


def test_the_command_line_plots_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_log(tmp_path / "run", MAPPO_HEADER)
    main(["plot", str(folder)])
    assert capsys.readouterr().out.strip() == f"plot: {folder / TRAINING_PNG}"
    assert_png(folder / TRAINING_PNG)
    with pytest.raises(SystemExit) as error:  # a bad RUN_DIR: one line, no traceback
        main(["plot", str(tmp_path / "nowhere")])
    assert str(error.value).startswith(f"jaxmarket: RUN_DIR = {tmp_path / 'nowhere'} does not exist")
    assert "\n" not in str(error.value)
