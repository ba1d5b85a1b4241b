"""``jaxmarket evaluate`` on a single-agent policy checkpoint of an env other than market making (an
offline learner's, on OTC-LP-v0): every reference policy scored over the same episodes, against
``jm.evaluate`` run directly on the reloaded checkpoint and the env's heuristic."""

import json

import jax
import numpy as np
import pytest

import jaxmarket as jm
from training.cli import main
from training.learners import bc, checkpoint
from training.tasks.evaluate import evaluate_policy
from training.tasks.offline.behaviour import behaviour_policy

ENV_ID = "jaxmarket/OTC-LP-v0"
SIZES = {"n_rounds": 6}
EPISODES = 20
CLONE = bc.BCConfig(hidden_sizes=(16,), num_updates=50, updates_per_chunk=50)


def test_a_policy_checkpoint_is_scored_beside_the_env_s_behaviours(tmp_path, capsys):
    env, params = jm.make(ENV_ID, **SIZES)
    heuristic = behaviour_policy(ENV_ID, env, params, "heuristic")
    data = jm.to_transitions(jm.record(env, params, heuristic, num_episodes=8, seed=0))
    trainer = bc.make_trainer(CLONE, env, params, data)
    runner = jax.jit(trainer.train)(jax.random.key(0), trainer.dataset)["runner"]
    directory = tmp_path / "final"
    trainer.save(directory, runner, {"env_id": ENV_ID, "env_overrides": SIZES, "algorithm": "bc"}, CLONE.num_updates)
    main(["evaluate", "--checkpoint", str(directory), "--episodes", str(EPISODES), "--eval-seed", "3",
          "--out", str(tmp_path / "eval")])
    assert "| heuristic |" in capsys.readouterr().out
    rows = {row["policy"]: row for row in json.loads((tmp_path / "eval" / "evaluation.json").read_text())["rows"]}
    assert set(rows) == {"checkpoint", "random", "heuristic"}
    _, _, policy, _ = checkpoint.load(directory)
    mine = np.asarray(jm.evaluate(env, params, policy, EPISODES, 3)["return"], np.float64)
    theirs = np.asarray(jm.evaluate(env, params, heuristic, EPISODES, 3)["return"], np.float64)
    assert rows["checkpoint"]["mean"] == pytest.approx(mine.mean(), rel=1e-6)
    assert rows["heuristic"]["mean"] == pytest.approx(theirs.mean(), rel=1e-6)
    assert rows["heuristic"]["minus_checkpoint"] == pytest.approx((theirs - mine).mean(), rel=1e-6, abs=1e-9)
    assert rows["heuristic"]["minus_checkpoint_se"] == pytest.approx((theirs - mine).std(ddof=1) / np.sqrt(EPISODES),
                                                                     rel=1e-6)
    with pytest.raises(ValueError, match="episodes = 1"):
        evaluate_policy(str(directory), 1, 3, None)
