"""The training loop's run directory: resuming from the newest checkpoint that restores (a truncated
one is skipped with a warning), refusing a folder of another run before compiling, orbax's
temporary folders never loaded, the log kept across segments, and TensorBoard events that hold the
log's numbers (read back with an independent TFRecord reader)."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import struct
from pathlib import Path

import jax
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

import jaxmarket as jm
from tests.keys import clone_keys
from training.learners import loop
from training.learners.ppo import PPOConfig, make_trainer

ENV_ID = "jaxmarket/MarketMaking-AS-v0"
ENV, PARAMS = jm.make(ENV_ID)
CONFIG = PPOConfig(num_envs=8, num_steps=8, total_timesteps=8 * 8 * 5, num_minibatches=2, update_epochs=1,
                   hidden_sizes=(8,), updates_per_chunk=2)  # 5 updates: chunks end at 2, 4, 5
METADATA = {"env_id": ENV_ID, "env_overrides": {}}
TRAINER = make_trainer(CONFIG, ENV, PARAMS)  # one trainer: its jitted functions compile once for the module
TIMING = ("wall_s", "steps_per_s")


def train(out: Path, key: jax.Array, config: PPOConfig = CONFIG, **kwargs) -> tuple:
    trainer = TRAINER if config == CONFIG else make_trainer(config, ENV, PARAMS)
    return loop.run(trainer, key, metadata=METADATA, out_dir=out, checkpoint_interval=0,
                    progress=False, **kwargs)


def steps(out: Path) -> list[int]:
    return sorted(int(p.name) for p in (out / loop.CHECKPOINTS).iterdir() if p.name.isdigit())


def log(out: Path) -> list[dict[str, str]]:
    with open(out / loop.LOG, newline="") as file:
        return list(csv.DictReader(file))


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def assert_same_params(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a.train_state.params), jax.tree.leaves(b.train_state.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_every_chunk_is_checkpointed_and_the_newest_kept(tmp_path: Path) -> None:
    runner, rows = train(tmp_path, jax.random.key(0), keep_checkpoints=2)
    assert steps(tmp_path) == [4, 5]
    assert [int(r["update"]) for r in log(tmp_path)] == [2, 4, 5] == [r["update"] for r in rows]
    stored = json.loads((tmp_path / loop.RUN).read_text())
    assert stored["config"] == json.loads(json.dumps(dataclasses.asdict(CONFIG)))
    assert stored["metadata"] == METADATA
    assert stored["key"] == np.asarray(jax.random.key_data(jax.random.key(0))).tolist()


def test_a_truncated_checkpoint_is_skipped_with_a_warning(tmp_path: Path) -> None:
    key = jax.random.key(1)
    whole, whole_rows = train(tmp_path / "whole", clone_keys(key))
    out = tmp_path / "broken"
    train(out, clone_keys(key))
    before = log(out)
    data = [p for p in (out / loop.CHECKPOINTS / "5").rglob("*") if p.is_file() and p.parent.name == "d"]
    assert data
    for path in data:  # as if the write had been cut short
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.warns(UserWarning, match=r"checkpoints/5 does not restore and is skipped"):
        resumed, rows = train(out, key)
    assert int(resumed.update) == 5
    assert_same_params(resumed, whole)
    assert untimed(log(out)) == untimed(before)  # the rows up to update 4 kept, the last chunk's rewritten
    assert [r["update"] for r in rows] == [r["update"] for r in whole_rows]


def test_when_no_checkpoint_restores_the_run_starts_over_and_says_so(tmp_path: Path) -> None:
    key = jax.random.key(10)
    whole, _ = train(tmp_path / "whole", clone_keys(key))
    out = tmp_path / "broken"
    train(out, clone_keys(key), keep_checkpoints=1)
    for path in (out / loop.CHECKPOINTS / "5").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            path.write_bytes(b"")
    with pytest.warns(UserWarning, match=r"none of the 1 checkpoints in .* restores: the run starts over"):
        again, rows = train(out, key, keep_checkpoints=1)
    assert [r["update"] for r in rows] == [2, 4, 5]
    assert_same_params(again, whole)


def test_resume_continues_from_a_middle_checkpoint(tmp_path: Path) -> None:
    """Remove the last checkpoint and the log's last row, as if killed after update 4."""
    key = jax.random.key(2)
    whole, _ = train(tmp_path, clone_keys(key))
    whole_log = log(tmp_path)
    shutil.rmtree(tmp_path / loop.CHECKPOINTS / "5")
    lines = (tmp_path / loop.LOG).read_text().splitlines(keepends=True)
    (tmp_path / loop.LOG).write_text("".join(lines[:-1]) + lines[-1][:5])  # and a row cut mid-write
    resumed, rows = train(tmp_path, key)
    assert_same_params(resumed, whole)
    assert untimed(log(tmp_path)) == untimed(whole_log)
    assert [r["update"] for r in rows] == [2, 4, 5]
    assert rows[1]["wall_s"] <= rows[2]["wall_s"]  # wall time adds up over the segments


def test_temporary_checkpoint_folders_are_never_loaded(tmp_path: Path) -> None:
    key = jax.random.key(3)
    whole, _ = train(tmp_path / "whole", clone_keys(key))
    out = tmp_path / "out"
    (out / loop.CHECKPOINTS / "4.orbax-checkpoint-tmp-1234" / "default").mkdir(parents=True)  # a save cut short
    runner, rows = train(out, key)
    assert [r["update"] for r in rows] == [2, 4, 5]  # from the start: nothing restored
    assert_same_params(runner, whole)
    assert not any("tmp" in p.name for p in (out / loop.CHECKPOINTS).iterdir())


@pytest.mark.parametrize("change, field", [
    ({"learning_rate": 1e-3}, "config.learning_rate: stored 0.0003, given 0.001"),
    ({"num_envs": 16}, "config.num_envs: stored 8, given 16"),
])
def test_a_folder_of_another_run_is_refused_before_compiling(tmp_path: Path, change: dict, field: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    train(tmp_path, jax.random.key(4))
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    with pytest.raises(ValueError, match="holds checkpoints of a different run") as error:
        train(tmp_path, jax.random.key(4), dataclasses.replace(CONFIG, **change))
    assert field in str(error.value)
    with pytest.raises(ValueError, match=r"key: stored \[0, 4\], given \[0, 5\]"):
        train(tmp_path, jax.random.key(5))


def test_devices_may_differ_on_resume(tmp_path: Path) -> None:
    train(tmp_path, jax.random.key(6))
    runner, rows = train(tmp_path, jax.random.key(6), dataclasses.replace(CONFIG, devices=1))
    assert int(runner.update) == 5 and rows[-1]["update"] == 5


@pytest.mark.parametrize("kwargs, words", [
    ({"checkpoint_interval": -1.0}, "checkpoint_interval = -1.0"),
    ({"keep_checkpoints": 0}, "keep_checkpoints = 0"),
])
def test_bad_checkpoint_settings_are_refused(tmp_path: Path, kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        loop.run(make_trainer(CONFIG, ENV, PARAMS), jax.random.key(7), metadata=METADATA, out_dir=tmp_path, **kwargs)


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of a folder's event files, read as TFRecords (length, its CRC, the Event proto,
    its CRC) without TensorBoard: ``{tag: [(step, value), ...]}``."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at: at + 8])
            event = event_pb2.Event.FromString(data[at + 12: at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_events_hold_the_log(tmp_path: Path) -> None:
    train(tmp_path, jax.random.key(8))
    events = read_events(tmp_path)
    rows = log(tmp_path)
    for name in ("actor_loss", "value_loss", "steps_per_s", "wall_s"):
        logged = [(int(r["env_steps"]), float(r[name])) for r in rows]
        assert [step for step, _ in events[name]] == [step for step, _ in logged]
        np.testing.assert_allclose([v for _, v in events[name]], [v for _, v in logged], rtol=1e-6)
    assert "update" not in events and "env_steps" not in events


def test_a_calibration_resumes_with_its_calibrator_state(tmp_path: Path) -> None:
    """The calibrator's state (its Gaussian's mean, log-std and Adam state) is in the checkpoint: a run
    resumed after its second chunk ends with the uninterrupted run's theta and agents, bitwise."""
    from tests.training.learners import test_calibration as toy

    cal = toy.calibrator(iterations=6, iterations_per_chunk=2)
    key = jax.random.key(9)
    metadata = {"calibration": "toy"}
    whole, _ = loop.run(cal, clone_keys(key), metadata=metadata, out_dir=tmp_path, checkpoint_interval=0,
                        keep_checkpoints=3, progress=False)
    assert steps(tmp_path) == [2, 4, 6]
    shutil.rmtree(tmp_path / loop.CHECKPOINTS / "6")
    resumed, rows = loop.run(cal, key, metadata=metadata, out_dir=tmp_path, checkpoint_interval=0, progress=False)
    assert [r["update"] for r in rows] == [2, 4, 6]
    for a, b in zip(jax.tree.leaves(loop.storable(whole)), jax.tree.leaves(loop.storable(resumed)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(cal.point(whole.calibrator)), np.asarray(cal.point(resumed.calibrator)))
