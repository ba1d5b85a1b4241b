"""One recorded OTC-v0 episode (``training.tasks.otc.episode``) and ``jaxmarket otc``, on short episodes.

The record is checked against an independent replay of the same episode: ``env.step_env`` called
step by step with the same keys, reading the state after each round's settling step."""

import jax
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.otc.dealer import heuristic_policy
from jaxmarket.otc import ecn
from training.tasks.otc import episode as oe
from training.tasks.otc.plots import plot_episode
from training.cli import main

ROUNDS = 8
SMALL = {"n_lps": 3, "n_lts": 2, "n_flow": 6, "n_rounds": ROUNDS}
SEED = 3


def replay_states(env, params, policy, seed):
    """Per round: the state before its settling step and after it, by stepping ``env.step_env``
    with ``simulate_episode``'s keys (those of ``jaxmarket.core.evaluate.rollout_episode``)."""
    n_phases = env.config.n_phases
    reset_key, key = jax.random.split(jax.random.key(seed))
    obs, state = env.reset_env(reset_key, params)

    @jax.jit
    def step(step_key, obs, state):
        act_key, env_key = jax.random.split(step_key)
        return env.step_env(env_key, state, policy(act_key, obs, state, params), params)

    before, after = [], []
    for i, step_key in enumerate(jax.random.split(key, int(params.n_rounds) * n_phases)):
        last = i % n_phases == n_phases - 1
        obs, next_state, _, terminated, info = step(step_key, obs, state)
        assert bool(info["settled"]) == last
        if last:
            before.append(state)
            after.append(next_state)
        state = next_state
    assert bool(terminated["lp"].all())
    return before, after


@pytest.fixture(scope="module")
def episode():
    env, params = jm.make(oe.ENV_ID, **SMALL)
    policy = heuristic_policy(env)
    record = oe.simulate_episode(env, params, policy, seed=SEED)
    before, after = replay_states(env, params, policy, SEED)
    return env, params, record, before, after


def test_record_shapes(episode):
    env, _, record, _, _ = episode
    n_lps, n_lts = env.num_agents["lp"], env.num_agents["lt"]
    per_lp = ("bid", "ask", "inventory", "hedge", "share", "lp_flow", "cum_share", "lp_reward")
    for name in oe.ROUND_COLUMNS:
        expected = (ROUNDS, n_lps) if name in per_lp else (ROUNDS, n_lts) if name == "lt_reward" else (ROUNDS,)
        assert record[name].shape == expected, name
        assert np.all(np.isfinite(record[name])), name
    for name in ("market_share", "spread_pnl", "inventory_pnl", "hedge_cost", "lp_pnl", "hedge_volume"):
        assert record[name].shape == (n_lps,), name
    assert int(record["n_rounds"]) == ROUNDS


def test_bids_below_asks_at_the_reference_size(episode):
    _, params, record, before, _ = episode
    assert np.all(record["bid"] < record["price"][:, None])
    assert np.all(record["ask"] > record["price"][:, None])
    for t, state in enumerate(before):  # the quotes in force when round t settles, by the formula
        s_ref = ecn.half_spread(oe.QUOTE_SIZE, state.s0, params.ecn_depth, params.ecn_lambda, params.max_fill)
        half, shift = (1 + state.tier_eps[:, 0]) * s_ref, state.skew * 0.5 * state.s0
        np.testing.assert_allclose(record["bid"][t], state.price * (1 - half + shift), rtol=1e-6)
        np.testing.assert_allclose(record["ask"][t], state.price * (1 + half + shift), rtol=1e-6)
        np.testing.assert_allclose(record["ecn_spread_bp"][t], state.s0 / 1e-4, rtol=1e-5)


def test_prices_inventories_and_shares_follow_the_states(episode):
    _, _, record, before, after = episode
    stack = lambda states, field: np.stack([np.asarray(getattr(s, field)) for s in states])  # noqa: E731
    np.testing.assert_allclose(record["price"], stack(before, "price"), rtol=1e-6)
    np.testing.assert_allclose(record["price_end"], stack(after, "price"), rtol=1e-6)
    np.testing.assert_allclose(record["price"][1:], record["price_end"][:-1])
    np.testing.assert_allclose(record["inventory"], stack(after, "lp_inventory"), atol=1e-5)
    np.testing.assert_allclose(record["share"], stack(after, "lp_last_share"), atol=1e-6)
    np.testing.assert_allclose(record["lp_flow"], stack(after, "lp_last_buy") + stack(after, "lp_last_sell"), atol=1e-5)


def test_hedges_match_state_differences(episode):
    _, _, record, before, after = episode
    for t, (old, new) in enumerate(zip(before, after)):
        pre_hedge = old.lp_inventory - new.lp_last_buy + new.lp_last_sell  # after the client trades
        np.testing.assert_allclose(record["hedge"][t], new.lp_inventory - pre_hedge, atol=1e-5)
        np.testing.assert_allclose(np.abs(record["hedge"][t]), new.lp_hedge_volume - old.lp_hedge_volume, atol=1e-5)
    assert np.abs(record["hedge"]).sum() > 0, "the heuristic LPs should hedge some inventory"


def test_final_cumulative_share_is_the_episode_market_share(episode):
    env, params, record, _, after = episode
    final = after[-1]
    metrics = env.episode_metrics(final, params)
    np.testing.assert_allclose(record["cum_share"][-1], metrics["market_share"], rtol=1e-5, atol=1e-7)
    volume = np.asarray(final.lp_volume, np.float64)
    np.testing.assert_allclose(record["cum_share"][-1], volume / (volume.sum() + float(final.ecn_client_volume)),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(record["market_share"], metrics["market_share"])
    assert np.all(np.diff(np.cumsum(record["client_flow"])) >= 0) and record["client_flow"].sum() > 0
    assert np.all(record["cum_share"].sum(axis=1) <= 1 + 1e-6)


def test_summary_and_plot(episode, tmp_path):
    env, params, record, _, after = episode
    metrics = jax.tree.map(np.asarray, env.episode_metrics(after[-1], params))
    text = oe.summarize(record, metrics)
    assert text == oe.summarize(record)
    rows = [line for line in text.splitlines() if line[:3].strip().isdigit()]
    assert len(rows) == env.num_agents["lp"]
    assert f"{100 * metrics['market_share'][0]:.1f}%" in rows[0]
    path = plot_episode(record, tmp_path / "nested" / "episode.png")
    assert path.exists() and path.stat().st_size > 10_000


def test_simulate_episode_needs_otc():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0")
    with pytest.raises(ValueError, match="OTC-v0"):
        oe.simulate_episode(env, params, jm.random_policy(env), seed=0)


def test_cli_otc_random_on_the_replayed_series(tmp_path, capsys, monkeypatch):
    calls = []
    simulate = oe.simulate_episode

    def recording(*args, **kwargs):  # the CLI's episode, kept to check (one compile for both)
        calls.append((args, kwargs, simulate(*args, **kwargs)))
        return calls[-1][2]

    monkeypatch.setattr(oe, "simulate_episode", recording)
    out = tmp_path / "otc.png"
    main(["otc", "--policy", "random", "--market.reference", "replay", "--market.n-lps", "3", "--market.n-lts", "2",
          "--market.n-flow", "6", "--seed", "1", "--env.n-rounds", str(ROUNDS), "--out", str(out)])
    text = capsys.readouterr().out
    assert f"OTC-v0, {ROUNDS} rounds" in text and "hedge cost" in text
    assert f"plot: {out}" in text
    assert out.stat().st_size > 10_000

    (args, kwargs, record), = calls
    env, params, _ = args
    assert record["bid"].shape == (ROUNDS, SMALL["n_lps"])
    assert np.all(record["bid"] < record["ask"]), "random spread multipliers stay above -1"
    assert np.isin(record["price"], np.asarray(params.series)).all(), "replayed prices come from the series"
    again = simulate(*args, **kwargs)  # the same seed gives the same episode
    for name in oe.ROUND_COLUMNS:
        np.testing.assert_array_equal(again[name], record[name])

    with pytest.raises(SystemExit) as error:  # the agent counts are --market's fields
        main(["otc", "--n-lps", "2"])
    assert error.value.code == 2
    with pytest.raises(SystemExit, match="n_rounds = 0"):
        main(["otc", "--env.n-rounds", "0"])
