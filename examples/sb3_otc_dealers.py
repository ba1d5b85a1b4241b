"""One Stable-Baselines3 PPO policy shared by the dealers of ``jaxmarket/OTC-v0``, trained through
``jaxmarket.interop.to_pettingzoo`` and SuperSuit, and evaluated against the heuristic dealers.

The route is the usual one for a shared policy over a PettingZoo ``ParallelEnv``:
``supersuit.pettingzoo_env_to_vec_env_v1`` turns the market's agents into the copies of a vector
env (one row per agent), ``supersuit.concat_vec_envs_v1(..., base_class="stable_baselines3")``
stacks several markets and hands SB3 a ``VecEnv``. SuperSuit needs every agent to have the same
spaces and to stay for the whole episode (or ``black_death``), so the market is built with

- ``n_lts=0``: no RL clients; the clients are the market's ``n_flow`` flow clients. Each round a
  flow client trades with its type's probability, a log-normal size, buying or selling at random
  (an informed one in the direction of the next price move), at the cheapest venue it is
  connected to: one of the dealers' streamed quotes or the ECN (``jaxmarket.otc.clients``);
- ``turn_order=SIMULTANEOUS``: a round is one step, and every step is a dealer step.

The agents are then ``lp_0 .. lp_{n-1}``, all with the same observation (13 floats: inventory,
time, ECN spread, last return, flow, share, connectivity, then the dealer's own type) and action
(a spread multiplier per client tier, a skew and a hedge fraction); they all terminate together
after ``n_rounds`` rounds, so no black death is needed. The dealers' types (risk aversion, PnL
versus market-share weight, target share...) are drawn each episode and observed, so one shared
policy can still act differently per dealer.

Evaluation: the trained policy (deterministic), the heuristic dealers
(``jaxmarket.baselines.dealer.heuristic_lp_actions``: curve pricing per tier, risk-averse hedging)
and two references play the same ``--eval-episodes`` episodes, seed for seed, through
the same adapter. The score is the dealers' reward summed over an episode, averaged over the
dealers (± the standard error over episodes); market share and PnL come from the episode metrics.
Two references bracket it: uniformly random dealers, and withdrawn dealers that quote the widest
spread on every tier (so they trade little) and never hedge.

    .venv/bin/python examples/sb3_otc_dealers.py                        # 300k agent steps, 4 markets
    .venv/bin/python examples/sb3_otc_dealers.py --timesteps 50000 --eval-episodes 8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
import supersuit as ss
from stable_baselines3 import PPO
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecNormalize
from supersuit.vector import ConcatVecEnv
from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

import jaxmarket as jm
from jaxmarket.baselines.dealer import heuristic_lp_actions
from jaxmarket.interop import to_pettingzoo
from jaxmarket.otc.market import SIMULTANEOUS

from machine import cpu_model  # examples/machine.py, beside this script

ENV_ID = "jaxmarket/OTC-v0"
METRICS = ("market_share", "lp_pnl", "internalization")  # per-LP episode metrics reported, averaged over LPs


def make_market(n_lps: int, n_rounds: int):
    """The dealers-only market: flow clients, one step a round."""
    return jm.make(ENV_ID, n_lps=n_lps, n_lts=0, turn_order=SIMULTANEOUS, n_rounds=n_rounds)


def make_vec_env(env, params, n_markets: int, copies: str) -> SB3VecEnvWrapper:
    """``n_markets`` markets, their dealers stacked into one SB3 ``VecEnv`` of ``n_markets * n_lps`` rows.

    ``copies="clone"`` is SuperSuit's ``concat_vec_envs_v1``: it clones the vectorised market with
    cloudpickle, and each clone compiles its own env step (jax.jit caches by the env object).
    ``copies="shared"`` builds the same ``ConcatVecEnv`` from adapters of one env object, so the
    step compiles once.
    """
    if copies == "clone":
        market = ss.pettingzoo_env_to_vec_env_v1(to_pettingzoo(env, params))
        return ss.concat_vec_envs_v1(market, n_markets, num_cpus=0, base_class="stable_baselines3")
    markets = [ss.pettingzoo_env_to_vec_env_v1(to_pettingzoo(env, params)) for _ in range(n_markets)]
    concat = ConcatVecEnv([lambda m=m: m for m in markets], markets[0].observation_space, markets[0].action_space)
    return SB3VecEnvWrapper(concat)


def evaluate(policies: dict, env, params, episodes: int, seed: int) -> dict[str, dict]:
    """Per policy: the dealers' mean episode reward (± s.e. over episodes) and mean episode metrics.

    Every policy plays episode ``e`` from ``reset(seed=seed + e)`` of one adapter, so the draws that
    do not depend on the dealers' actions (types, connections, flow, prices) are the same for each.
    """
    market = to_pettingzoo(env, params)
    results = {}
    for name, act in policies.items():
        returns, metrics = [], {m: [] for m in METRICS}
        start = time.perf_counter()
        for episode in range(episodes):
            observations, _ = market.reset(seed=seed + episode)
            total = np.zeros(len(market.possible_agents))
            while market.agents:
                agents = market.acting_agents
                actions = act(np.stack([observations[a] for a in agents]))
                observations, rewards, _, _, infos = market.step(dict(zip(agents, actions)))
                total += [rewards[a] for a in market.possible_agents]
            returns.append(total.mean())
            final = infos[market.possible_agents[0]].get("episode_metrics", {})
            for m in METRICS:
                if m in final:
                    metrics[m].append(float(np.mean(final[m])))
        returns = np.array(returns)
        results[name] = {
            "reward": float(returns.mean()), "reward_se": float(returns.std(ddof=1) / np.sqrt(episodes)),
            **{m: float(np.mean(v)) for m, v in metrics.items() if v},
            "wall_s": time.perf_counter() - start,
        }
        print(f"  {name}: {results[name]['reward']:.2f} ± {results[name]['reward_se']:.2f} "
              f"({results[name]['wall_s']:.1f} s)", flush=True)
    return results


def format_table(results: dict, run: dict) -> str:
    lines = [
        f"{ENV_ID}, {run['n_lps']} dealers, n_lts=0, SIMULTANEOUS, {run['n_rounds']} rounds; "
        f"{run['eval_episodes']} evaluation episodes (seeds {run['eval_seed']}..); CPU: {cpu_model()}",
        "",
        "| dealers | mean episode reward per dealer (± s.e.) | market share | LP PnL (bp units) | internalization |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cells = [f"{r[m]:.3f}" if m in r else "n/a" for m in METRICS]
        lines.append(f"| {name} | {r['reward']:.2f} ± {r['reward_se']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", f"SB3 training: {run['agent_steps']:,} agent steps ({run['market_steps']:,} market steps, "
                  f"{run['n_markets']} markets x {run['n_lps']} dealers, copies={run['copies']}) in "
                  f"{run['train_wall_s']:.1f} s: {run['agent_steps'] / run['train_wall_s']:,.0f} agent steps/s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=300_000,
                        help="SB3 training steps, counted per dealer (agent steps)")
    parser.add_argument("--n-envs", type=int, default=4, help="markets stacked by concat_vec_envs_v1")
    parser.add_argument("--n-lps", type=int, default=4, help="dealers per market")
    parser.add_argument("--n-rounds", type=int, default=96, help="rounds (= steps) per episode")
    parser.add_argument("--seed", type=int, default=0, help="training seed (torch and the markets)")
    parser.add_argument("--out", default="runs/sb3-otc-dealers", help="folder for results.md, results.json, the model")
    parser.add_argument("--eval-episodes", type=int, default=32, help="evaluation episodes per policy")
    parser.add_argument("--eval-seed", type=int, default=10_000, help="seed of the first evaluation episode")
    parser.add_argument("--copies", choices=("clone", "shared"), default="clone",
                        help="clone: supersuit.concat_vec_envs_v1 (one compile per market); "
                             "shared: the same ConcatVecEnv over one env object (one compile)")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env, params = make_market(args.n_lps, args.n_rounds)

    # SB3's PPO(seed=...) calls VecEnv.seed, which SuperSuit's ConcatVecEnv (a gymnasium vector env)
    # lacks: seed torch and numpy here, and the markets by one seeded reset (market i gets seed + i;
    # SB3's own reset then continues their keys).
    set_random_seed(args.seed)
    start = time.perf_counter()
    venv = make_vec_env(env, params, args.n_envs, args.copies)
    venv.venv.reset(seed=args.seed)
    venv = VecNormalize(venv, norm_obs=True, norm_reward=True, clip_obs=10.0, clip_reward=10.0, gamma=0.99)
    build_wall = time.perf_counter() - start
    n_steps = max(32, 2048 // venv.num_envs)  # about 2048 agent steps per update
    model = PPO(
        "MlpPolicy", venv,
        n_steps=n_steps,
        batch_size=256,
        n_epochs=10,
        learning_rate=3e-4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.0,
        policy_kwargs={"net_arch": [64, 64], "log_std_init": -1.0},  # std 0.37: actions span about 1 to 4 units
        device="cpu",
        verbose=0,
    )
    model.action_space.seed(args.seed)
    print(f"SB3 PPO on {ENV_ID} (n_lts=0, SIMULTANEOUS): {args.timesteps:,} agent steps, {args.n_envs} markets x "
          f"{args.n_lps} dealers = {venv.num_envs} rows, n_steps {n_steps}, copies={args.copies}", flush=True)
    start = time.perf_counter()
    model.learn(total_timesteps=args.timesteps)
    train_wall = time.perf_counter() - start
    print(f"trained: {model.num_timesteps:,} agent steps in {train_wall:.1f} s (+{build_wall:.1f} s building)",
          flush=True)
    model.save(out / "sb3_ppo_dealers")
    venv.save(str(out / "vecnormalize.pkl"))

    heuristic = jax.jit(lambda obs: heuristic_lp_actions(obs, env.config, params))
    space = to_pettingzoo(env, params).action_space("lp_0")
    rng = np.random.default_rng(args.eval_seed)
    withdrawn = np.concatenate([np.full(env.config.n_tiers, space.high[0]), [0.0, 0.0]]).astype(np.float32)
    policies = {
        "SB3 PPO, shared (deterministic)": lambda obs: model.predict(venv.normalize_obs(obs), deterministic=True)[0],
        "heuristic (curve pricing, hedging)": lambda obs: np.asarray(heuristic(obs)),
        "random (uniform in the action box)": lambda obs: rng.uniform(space.low, space.high,
                                                                      (len(obs), *space.shape)).astype(np.float32),
        "withdrawn (widest spread, no skew, no hedge)": lambda obs: np.tile(withdrawn, (len(obs), 1)),
    }
    print(f"evaluating over {args.eval_episodes} episodes:", flush=True)
    results = evaluate(policies, env, params, args.eval_episodes, args.eval_seed)
    run = {"n_lps": args.n_lps, "n_rounds": args.n_rounds, "n_markets": args.n_envs, "copies": args.copies,
           "agent_steps": int(model.num_timesteps), "market_steps": int(model.num_timesteps) // args.n_lps,
           "train_wall_s": train_wall, "build_wall_s": build_wall, "eval_episodes": args.eval_episodes,
           "eval_seed": args.eval_seed}
    table = format_table(results, run)
    print(table)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps({"run": run, "results": results, "cpu": cpu_model()}, indent=2))
    print(f"written: {out / 'results.md'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
