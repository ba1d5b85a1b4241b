"""The offline tasks: behaviour policies with exploration noise, the ``jaxmarket dataset`` commands end
to end (record -> info -> train-offline -> a PPO warm start), PPO's warm start itself, and the
experiments' bookkeeping, each against a hand-computed or independent expectation."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from training.cli import main, parse
from training.learners import ppo
from training.learners.normalize import RunningStats
from training.learners.warm_start import discounted_returns, load_warm_start, return_stats
from training.tasks.offline import experiments
from training.tasks.offline.command import parse_overrides
from training.tasks.offline.behaviour import POLICY_NOISE_GAIN, behaviour_policy, noisy, reference_scores

MM_SMALL = {"max_steps_in_episode": 20}
EXECUTION_SMALL = {"n_noise": 20, "n_value": 5, "n_momentum": 2, "n_market_makers": 1}
pytestmark = pytest.mark.xdist_group("offline_tasks")


def test_discounted_returns_are_ppo_s_running_return():
    """d_t = gamma d_(t-1) + r_t from each episode's start: with unit rewards, 2 (1 - 0.5^(t+1)) at gamma 0.5;
    padding steps are left out."""
    rewards = np.ones((2, 4), np.float32)
    out = discounted_returns(rewards, np.array([4, 2]), 0.5)
    expected = 2 * (1 - 0.5 ** np.arange(1, 5))
    np.testing.assert_allclose(out, np.r_[expected, expected[:2]], rtol=1e-6)


def test_noise_keeps_actions_in_the_space_and_flips_at_its_rate():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    base = behaviour_policy("jaxmarket/MarketMaking-AS-v0", env, params, "optimal")
    shaken = noisy(env, params, base, 0.5)
    obs, state = env.reset(jm.seed_key(0), params)
    actions = jax.vmap(lambda k: shaken(k, obs, state, params))(jax.random.split(jm.seed_key(1), 4000))
    space = env.action_space(params)
    assert bool(jnp.all((actions >= space.low) & (actions <= space.high)))
    assert float(jnp.std(actions[:, 0])) > 0.1 * float(space.high - space.low)  # noise of half the range, clipped
    assert noisy(env, params, base, 0.0) is base
    xenv, xparams = jm.make("jaxmarket/Execution-v0", **EXECUTION_SMALL)
    twap = behaviour_policy("jaxmarket/Execution-v0", xenv, xparams, "twap")
    flipped = noisy(xenv, xparams, twap, 0.3)
    xobs, xstate = xenv.reset(jm.seed_key(0), xparams)
    a = jax.vmap(lambda k: flipped(k, xobs, xstate, xparams))(jax.random.split(jm.seed_key(2), 20_000))
    b = twap(jm.seed_key(3), xobs, xstate, xparams)
    n = xenv.action_space(xparams).n
    changed = float(jnp.mean(a != b))  # a uniform draw keeps the action with probability 1/n
    assert abs(changed - 0.3 * (1 - 1 / n)) < 0.015
    with pytest.raises(ValueError, match="noise"):
        noisy(env, params, base, 1.5)
    with pytest.raises(ValueError, match=r"policy = 'twap' is not a behaviour of jaxmarket/MarketMaking-AS-v0"):
        behaviour_policy("jaxmarket/MarketMaking-AS-v0", env, params, "twap")
    with pytest.raises(ValueError, match="noise_space"):
        noisy(env, params, base, 0.1, "logit")


def test_policy_space_noise_is_gaussian_in_the_squashed_policy_s_variable():
    """In u = logit((a - low) / (high - low)) the noisy actions are normal around the noise-free action's u,
    of standard deviation POLICY_NOISE_GAIN * noise, and strictly inside the bounds (nothing piles on them)."""
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    base = behaviour_policy("jaxmarket/MarketMaking-AS-v0", env, params, "optimal")
    noise = 0.3
    shaken = noisy(env, params, base, noise, "policy")
    obs, state = env.reset(jm.seed_key(0), params)
    actions = np.asarray(jax.vmap(lambda k: shaken(k, obs, state, params))(jax.random.split(jm.seed_key(1), 20_000)),
                         np.float64)
    space = env.action_space(params)
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    assert np.all((actions > low) & (actions < high))
    frac = (actions - low) / (high - low)
    u = np.log(frac) - np.log1p(-frac)
    clean = (np.asarray(base(jm.seed_key(2), obs, state, params), np.float64) - low) / (high - low)
    np.testing.assert_allclose(u.mean(axis=0), np.log(clean) - np.log1p(-clean), atol=0.03)  # s.e. 1.2 / 141
    np.testing.assert_allclose(u.std(axis=0), POLICY_NOISE_GAIN * noise, rtol=0.03)


def test_reference_scores_bracket_the_baselines():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    low, high, best = reference_scores("jaxmarket/MarketMaking-AS-v0", env, params, 200, 0)
    scores = {name: float(jm.evaluate(env, params, behaviour_policy("jaxmarket/MarketMaking-AS-v0", env, params, name),
                                      200, 0)["return"].mean()) for name in ("optimal", "as-symmetric")}
    assert best == max(scores, key=scores.get) and high == pytest.approx(max(scores.values()))
    random_return = float(jm.evaluate(env, params, jm.random_policy(env), 200, 0)["return"].mean())
    assert low == pytest.approx(random_return) and high > low


def test_a_warm_start_is_where_ppo_starts_and_is_checked():
    """PPO's first state holds the warm start's parameters and statistics; a warm start of another
    network is refused naming what differs."""
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    config = ppo.PPOConfig(num_envs=8, num_steps=4, num_minibatches=2, update_epochs=1, total_timesteps=64)
    donor = ppo.make_trainer(config, env, params).init(jm.seed_key(7))
    stats = RunningStats(jnp.array(3.0), jnp.array(4.0), jnp.array(100.0))
    warm = ppo.WarmStart(donor.train_state.params, donor.obs_stats.update(jnp.ones((5, 2))), stats)
    runner = ppo.make_trainer(config, env, params, warm).init(jm.seed_key(8))
    for got, want in zip(jax.tree.leaves(runner.train_state.params), jax.tree.leaves(warm.net_params)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(runner.obs_stats.mean, warm.obs_stats.mean)
    assert float(runner.return_stats.var) == 4.0
    wider = dataclasses.replace(config, hidden_sizes=(32,))
    with pytest.raises(ValueError, match="warm_start.net_params: not the parameters of this run's network"):
        ppo.make_trainer(wider, env, params, warm)
    with pytest.raises(ValueError, match="warm_kl_coef"):
        ppo.make_trainer(dataclasses.replace(config, warm_kl_coef=-1.0), env, params, warm)


def test_the_kl_term_holds_the_policy_at_its_warm_start():
    """With a large ``warm_kl_coef`` PPO's policy stays much nearer its warm start than without it."""
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    config = ppo.PPOConfig(num_envs=16, num_steps=20, num_minibatches=2, update_epochs=2, total_timesteps=16 * 20 * 8,
                           learning_rate=3e-3)
    start = ppo.make_trainer(config, env, params).init(jm.seed_key(0))
    warm = ppo.WarmStart(start.train_state.params, start.obs_stats)
    obs = jax.random.uniform(jm.seed_key(1), (256, 2))

    def drift(coef):
        trainer = ppo.make_trainer(dataclasses.replace(config, warm_kl_coef=coef), env, params, warm)
        final = jax.jit(trainer.train)(jm.seed_key(2))["runner"].train_state.params
        before, _ = trainer.network.apply(warm.net_params, obs)
        after, _ = trainer.network.apply(final, obs)
        return float(before.kl_divergence(after).mean())

    assert drift(100.0) < 0.2 * drift(0.0)


def test_steps_to_threshold_and_paired_differences():
    steps = np.arange(1, 11) * 100
    curve = np.array([0, 0, 1, 1, 1, 5, 5, 5, 5, 5], float)
    # running means over 5 updates: 0.6, 1.6, 2.6, 3.4, 4.2, 5.0 -> first >= 4 at the window ending at update 9
    assert experiments.steps_to(steps, curve, 4.0) == 900
    assert experiments.steps_to(steps, curve, 6.0) is None
    mean, se = experiments.paired(np.array([3.0, 5.0, 7.0]), np.array([1.0, 2.0, 3.0]))
    assert mean == pytest.approx(3.0) and se == pytest.approx(1.0 / np.sqrt(3))
    # one seed: the s.e. over its episodes; several: over the seeds' means (here 2 and 4: s.e. 1)
    assert experiments.seed_stats(np.array([[1.0, 3.0]])) == pytest.approx((2.0, 1.0))
    assert experiments.seed_stats(np.array([[1.0, 3.0], [3.0, 5.0]])) == pytest.approx((3.0, 1.0))
    with pytest.raises(ValueError, match="seeds"):
        experiments.run_held_out_types(experiments.HeldOutTypesConfig(seeds=0))
    # jm.evaluate replays jm.record's episodes under the same seed: an experiment refuses such an eval_seed
    with pytest.raises(ValueError, match=r"eval_seed = 2 is one of the recording seeds \[0, 3\)"):
        experiments.run_held_out_types(experiments.HeldOutTypesConfig(seeds=3, eval_seed=2))
    with pytest.raises(ValueError, match=r"eval_seed = 1 is one of the recording seeds \[0, 2\)"):
        experiments.run_offline_rl(experiments.OfflineRLConfig(envs=("execution",), eval_seed=1))
    experiments.check_eval_seed(2, experiments.recording_seeds(experiments.OfflineRLConfig(), 2), "x")  # just above


def test_dataset_commands_end_to_end(tmp_path, capsys, monkeypatch):
    """record -> info -> train-offline (behaviour cloning, with the critic in PPO's units) -> evaluate the
    policy checkpoint -> PPO warm-started from it; the cloned policy scores within reach of the data's."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    overrides = json.dumps(MM_SMALL)
    main(["dataset", "record", "--env-id", "jaxmarket/MarketMaking-AS-v0", "--env-overrides", overrides, "--policy",
          "optimal", "--noise", "0.02", "--transitions", "4000", "--reference-episodes", "100",
          "--dataset-id", "test/mm-optimal-v0", "--episodes-per-chunk", "64", "--no-progress"])
    out = capsys.readouterr().out
    assert "recording 200 episodes (4,000 steps)" in out
    main(["dataset", "info", "test/mm-optimal-v0"])
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 200 and info["steps"] == 4000 and info["env_id"] == "jaxmarket/MarketMaking-AS-v0"
    assert info["ref_max_score"] > info["ref_min_score"]
    assert info["recording_seeds"] == [0, 4] and len(info["fingerprint"]) == 64  # 200 episodes in chunks of 64
    main(["dataset", "train-offline", "test/mm-optimal-v0", "--algorithm", "bc", "--out", str(tmp_path / "bc"),
          "--bc.num-updates", "3000", "--bc.updates-per-chunk", "1000", "--bc.hidden-sizes", "64", "64",
          "--bc.activation", "tanh", "--warm-start-gamma", "1.0", "--episodes", "200", "--no-progress"])
    result = json.loads((tmp_path / "bc" / "evaluation.json").read_text())
    assert result["evaluated"] and result["episodes"] == 200 and result["eval_seed"] == 1_000_000  # EVAL_SEED
    run = json.loads((tmp_path / "bc" / "run.json").read_text())
    assert run["metadata"]["dataset_fingerprint"] == info["fingerprint"] and run["config"]["gamma"] == 1.0
    # 3,000 steps on 4,000 transitions: far nearer the best baseline than the random policy (measured: 76)
    assert result["normalized_score"] > 50.0, result
    expected = 100 * (result["mean_return"] - info["ref_min_score"]) / (info["ref_max_score"] - info["ref_min_score"])
    assert result["normalized_score"] == pytest.approx(expected)
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    config = ppo.PPOConfig(hidden_sizes=(64, 64), activation="tanh", gamma=1.0)
    warm = load_warm_start(tmp_path / "bc" / "final", config, env, params, env_id="jaxmarket/MarketMaking-AS-v0")
    assert warm.return_stats is not None and float(warm.return_stats.count) > 1000
    with pytest.raises(ValueError, match="hidden_sizes"):
        load_warm_start(tmp_path / "bc" / "final", ppo.PPOConfig(hidden_sizes=(32, 32), gamma=1.0), env, params)
    with pytest.raises(ValueError, match="a policy for 'jaxmarket/MarketMaking-AS-v0'"):
        load_warm_start(tmp_path / "bc" / "final", config, env, params, env_id="jaxmarket/OTC-LP-v0")
    data = jm.data.from_minari("test/mm-optimal-v0")
    stats = return_stats(data, 1.0)  # train market-making's PPO gamma
    np.testing.assert_allclose(warm.return_stats.var, stats.var, rtol=1e-5)
    main(["train", "market-making", "--warm-start", str(tmp_path / "bc" / "final"), "--out", str(tmp_path / "ppo"),
          "--ppo.hidden-sizes", "64", "64", "--ppo.num-envs", "32", "--ppo.num-minibatches", "2",
          "--ppo.total-timesteps", "2048", "--env.max-steps-in-episode", "20", "--no-progress"])
    assert "warm-started from" in capsys.readouterr().out
    run = json.loads((tmp_path / "ppo" / "run.json").read_text())
    assert run["metadata"]["warm_start"] == str(tmp_path / "bc" / "final")
    with pytest.raises(SystemExit, match="hidden_sizes = \\(64, 64\\) in the checkpoint, \\(32, 32\\)"):
        main(["train", "market-making", "--warm-start", str(tmp_path / "bc" / "final"), "--out", str(tmp_path / "p2"),
              "--no-progress"])


def test_parsing_the_dataset_commands():
    config = parse(["dataset", "train-offline", "x/y-v0", "--algorithm", "bc", "--bc.batch-size", "64"])
    assert config.dataset_id == "x/y-v0" and config.bc.batch_size == 64 and config.algorithm == "bc"
    assert parse(["train", "market-making", "--warm-start", "runs/bc/final"]).warm_start == "runs/bc/final"
    with pytest.raises(SystemExit):
        parse(["dataset", "train-offline", "x/y-v0", "--algorithm", "td3"])
    with pytest.raises(ValueError, match=r"env_overrides = '\[1\]': expected a JSON object"):
        parse_overrides("[1]")
    with pytest.raises(SystemExit, match="jaxmarket: env_overrides = '{' is not JSON"):
        main(["dataset", "record", "--env-overrides", "{"])


def test_train_offline_checks_its_flags_before_loading(tmp_path, monkeypatch):
    """Each bad flag is refused, naming its field, before the dataset is opened (the id given does not exist,
    so a later check would report the missing dataset instead); an unknown algorithm from Python too."""
    from training.tasks.offline import command

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    base = parse(["dataset", "train-offline", "test/absent-v0", "--out", str(tmp_path / "out")])
    cases = [
        (dict(warm_start_gamma=1.5), r"warm_start_gamma = 1.5 is out of range: valid range is \[0.0, 1.0\]"),
        (dict(warm_start_gamma=-0.1), "warm_start_gamma"),
        (dict(episodes=-1), "episodes = -1"),
        (dict(eval_seed=-1), "eval_seed = -1"),
        (dict(eval_seed=2**32), "eval_seed"),
        (dict(algorithm="td3"), r"algorithm = 'td3' is not valid: choose one of \('bc', 'iql'\)"),
        (dict(iql=dataclasses.replace(base.iql, batch_size=0)), "batch_size"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            command.run_train_offline(dataclasses.replace(base, **change))
    with pytest.raises(ValueError, match="no Minari dataset"):
        command.run_train_offline(base)
    assert not (tmp_path / "out").exists()
    assert base.eval_seed == command.EVAL_SEED == 1_000_000
    assert (command.plural(1, "episode"), command.plural(1000, "episode")) == ("1 episode", "1,000 episodes")
    assert (command.number(None, 3), command.number(-12.34567, 3), command.number(74.66, 1)) == ("n/a", "-12.346",
                                                                                                  "74.7")


def test_record_checks_everything_before_evaluating_or_recording(tmp_path, monkeypatch):
    """Bad ids (malformed or taken), families, seeds and noise are refused before the reference scores are
    evaluated or anything is recorded; the default id of several policies is a valid Minari id."""
    from jaxmarket.data.datasets import check_new_dataset_id
    from training.tasks.offline import command

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))

    class Expensive(Exception):
        pass

    def expensive(*args, **kwargs):
        raise Expensive

    monkeypatch.setattr(command, "reference_scores", expensive)
    monkeypatch.setattr(jm, "record", expensive)
    (tmp_path / "test" / "taken-v0").mkdir(parents=True)
    mm = ["--env-id", "jaxmarket/MarketMaking-AS-v0", "--env-overrides", json.dumps(MM_SMALL), "--policy", "optimal",
          "--no-progress"]
    cases = [
        (["--dataset-id", "test/no-version"], r"dataset_id = 'test/no-version' is not a Minari id"),
        (["--dataset-id", "test/a+b-v0"], "is not a Minari id"),
        (["--dataset-id", "test/taken-v0"], "already exists"),
        (["--family", "lp"], "family = 'lp': a single-agent env has no families"),
        (["--seed", "-1"], "seed = -1"),
        (["--seed", str(command.EVAL_SEED - 2), "--transitions", "2000", "--episodes-per-chunk", "10"],
         rf"seed = {command.EVAL_SEED - 2}: the recording seeds \[{command.EVAL_SEED - 2}, {command.EVAL_SEED + 8}\)"),
        (["--noise", "1.5"], "noise = 1.5"),
    ]
    for flags, message in cases:
        with pytest.raises(ValueError, match=message):
            command.run_record(parse(["dataset", "record", *mm, *flags]))
    with pytest.raises(ValueError, match=r"family = None: a multi-agent env needs one of \['lp', 'lt'\]"):
        command.run_record(parse(["dataset", "record", "--env-id", "jaxmarket/OTC-v0", "--no-progress"]))
    several = command.default_dataset_id("jaxmarket/Execution-v0", ("twap", "always-passive"))
    assert several == "jaxmarket/execution-v0/twap_always-passive-v0"
    assert check_new_dataset_id(several) == tmp_path / several
    assert command.default_dataset_id("jaxmarket/OTC-LP-v0", ("heuristic",)) == "jaxmarket/otc-lp-v0/heuristic-v0"
    with pytest.raises(Expensive):  # everything checked: the reference scores come next
        command.run_record(parse(["dataset", "record", "--env-id", "jaxmarket/Execution-v0", "--env-overrides",
                                  json.dumps(EXECUTION_SMALL), "--policy", "twap", "always-passive", "--no-progress"]))
    assert command.recording_seeds(5, 21, 2, 4) == (5, 11)  # shares 11 and 10: 3 chunks each, seeds 5-7 and 8-10
    assert command.recording_seeds(0, 5, 3, 4) == (0, 3)  # shares 2, 2, 1: one chunk each


def test_evaluation_avoids_the_recording_seeds_and_resume_notices_new_data(tmp_path, capsys, monkeypatch):
    """The reference scores are evaluated with EVAL_SEED, the recording seeds are stored and an --eval-seed among
    them is refused; --warm-start-gamma sets the learner's gamma as well as its reward scale; the printed scores
    are rounded; a run resumed on a replaced dataset (same id, other episodes) is refused, naming the fingerprint."""
    import shutil

    from training.learners.normalize import STD_EPS
    from training.learners.storage import read_metadata
    from training.tasks.offline import command

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    record = ["dataset", "record", "--env-id", "jaxmarket/MarketMaking-AS-v0", "--env-overrides", json.dumps(MM_SMALL),
              "--policy", "optimal", "--noise", "0.1", "--transitions", "400", "--episodes-per-chunk", "8",
              "--dataset-id", "test/mm-v0", "--no-progress"]
    command.run_record(parse([*record, "--reference-episodes", "20"]))
    assert "recording 20 episodes (400 steps)" in capsys.readouterr().out
    info = jm.data.dataset_info("test/mm-v0")
    assert info["recording_seeds"] == [0, 3]  # 20 episodes in chunks of 8: seeds 0, 1, 2
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", **MM_SMALL)
    random_return = float(jm.evaluate(env, params, jm.random_policy(env), 20, command.EVAL_SEED)["return"].mean())
    assert info["ref_min_score"] == pytest.approx(random_return)
    train = ["dataset", "train-offline", "test/mm-v0", "--algorithm", "bc", "--bc.num-updates", "20",
             "--bc.updates-per-chunk", "10", "--bc.hidden-sizes", "16", "--bc.batch-size", "32", "--no-progress"]
    with pytest.raises(ValueError, match=r"eval_seed = 2 is one of the recording seeds \[0, 3\) of test/mm-v0.*"
                                         rf"--eval-seed outside them, e.g. the default {command.EVAL_SEED}"):
        command.run_train_offline(parse([*train, "--eval-seed", "2", "--out", str(tmp_path / "never")]))
    assert not (tmp_path / "never").exists()
    result = command.run_train_offline(parse([*train, "--warm-start-gamma", "0.9", "--episodes", "1",
                                              "--out", str(tmp_path / "bc")]))
    config = read_metadata(tmp_path / "bc" / "final")["config"]
    stats = return_stats(jm.data.from_minari("test/mm-v0"), 0.9)
    assert config["gamma"] == 0.9 and json.loads((tmp_path / "bc" / "run.json").read_text())["config"]["gamma"] == 0.9
    assert json.loads((tmp_path / "bc" / "run.json").read_text())["config"]["reward_scale"] == pytest.approx(
        1 / np.sqrt(float(stats.var) + STD_EPS), rel=1e-4)
    assert result["evaluated"] and result["eval_seed"] == command.EVAL_SEED and result["se"] is None
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("bc policy"))
    assert f"mean return {result['mean_return']:.3f} ± n/a over 1 episode (seed {command.EVAL_SEED}); " in line, line
    assert (f"references: random {info['ref_min_score']:.3f}, best baseline {info['ref_max_score']:.3f}; "
            f"normalized score {result['normalized_score']:.1f}") in line, line
    resume = [*train, "--episodes", "0", "--out", str(tmp_path / "resume")]
    assert command.run_train_offline(parse(resume))["reason"] == "--episodes 0"
    command.run_train_offline(parse(resume))  # the same data: resumes (the run is finished)
    shutil.rmtree(tmp_path / "datasets" / "test" / "mm-v0")
    command.run_record(parse([*record, "--reference-episodes", "0", "--seed", "100"]))
    assert jm.data.dataset_info("test/mm-v0")["fingerprint"] != info["fingerprint"]
    with pytest.raises(ValueError, match="holds checkpoints of a different run") as error:
        command.run_train_offline(parse(resume))
    differences = str(error.value).split("Fields that differ:")[1].split()
    assert differences[0] == "metadata.dataset_fingerprint:" and f"'{info['fingerprint']}'," in differences, differences
    assert sum(field.endswith(":") for field in differences) == 1, differences  # the data alone differ


def test_a_family_dataset_is_not_evaluated_and_says_why(tmp_path, capsys, monkeypatch):
    """A policy of one family of a multi-agent env is trained, not evaluated: a printed line and evaluation.json
    say why."""
    from training.tasks.offline import command

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    small = {"n_lps": 2, "n_lts": 3, "n_flow": 4, "n_rounds": 4}
    command.run_record(parse(["dataset", "record", "--env-id", "jaxmarket/OTC-v0", "--env-overrides", json.dumps(small),
                              "--family", "lp", "--transitions", "40", "--reference-episodes", "0", "--no-progress"]))
    result = command.run_train_offline(parse(["dataset", "train-offline", "jaxmarket/otc-v0/heuristic-v0",
                                              "--algorithm", "bc", "--bc.num-updates", "10", "--bc.updates-per-chunk",
                                              "10", "--bc.hidden-sizes", "16", "--out", str(tmp_path / "bc")]))
    out = capsys.readouterr().out
    assert result["evaluated"] is False and "mean_return" not in result
    assert "'lp' family of the multi-agent env jaxmarket/OTC-v0" in result["reason"]
    assert f"jaxmarket train otc --warm-start lp={tmp_path / 'bc' / 'final'}" in result["reason"]
    assert f"not evaluated: {result['reason']}" in out
    assert json.loads((tmp_path / "bc" / "evaluation.json").read_text()) == result
