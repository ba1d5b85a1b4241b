"""Stable-Baselines3 PPO on ``jaxmarket/MarketMaking-AS-v0`` through ``jaxmarket.interop.to_gymnasium``,
set beside jaxmarket's own in-JAX PPO (``jaxmarket demo``) on the same env and CPU.

The env is the Avellaneda–Stoikov model scored by the Cartea–Jaimungal criterion (phi = 0.01,
alpha = 0.001, the demo's settings): the episode's summed reward *is* the criterion, whose optimum
from a flat start is the closed-form h(0, 0) = 68.256 (``jaxmarket.baselines.cartea_jaimungal_value``).

What the script does:

1. trains SB3 PPO on a ``DummyVecEnv`` of ``--n-envs`` adapters (one jitted env step per adapter
   per call), with observation and reward normalisation (``VecNormalize``);
2. evaluates the deterministic policy (the Gaussian mean) over ``--eval-episodes`` episodes run
   through the adapters: criterion = episode return, with its standard error; and its exact
   expected criterion by backward induction (``jaxmarket.baselines.policy_value`` on the policy's
   depths over the whole (step, inventory) grid), as the demo's "exact (DP)" column;
3. runs ``jaxmarket demo`` (after training, so the two never share the CPU) or reads an earlier
   run's ``comparison.json`` from ``--demo-dir``;
4. prints a markdown table and writes it, with the numbers as JSON, to ``--out``.

Actions: the env's action is the pair of depths in ``[0, max_depth]``. SB3's Gaussian policy
samples on the real line and clips to the Box; a mean that drifts below 0 then sits on a flat
region (depth 0 whatever the sample). jaxmarket's own PPO collapsed that way without squashing
(docs/market_making.md, "Squashed actions"), so by default (``--action-map sigmoid``)
the policy acts in a latent space (``[-10, 10]``, far wider than it needs) and a wrapper maps it to
``max_depth * sigmoid(u)``, the same squashing as jaxmarket's PPO (``squash_actions``);
``--action-map clip`` keeps SB3's plain clipping (not measured in examples/README.md).

    .venv/bin/python examples/sb3_market_making.py                       # 500k steps, 8 envs
    .venv/bin/python examples/sb3_market_making.py --timesteps 200000 --demo-dir runs/demo --no-run-demo
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import jaxmarket as jm
from jaxmarket.baselines import cartea_jaimungal_value, policy_value
from jaxmarket.interop import to_gymnasium

from machine import cpu_model  # examples/machine.py, beside this script

ENV_ID = "jaxmarket/MarketMaking-AS-v0"
CRITERION = {"phi": 0.01, "alpha": 0.001}  # the demo's Cartea–Jaimungal criterion
LATENT_BOUND = 10.0  # sigmoid(-10) * max_depth = 5e-4: the clip at the latent bounds is never felt


class SigmoidDepths(gymnasium.ActionWrapper):
    """The policy acts in a latent Box ``[-LATENT_BOUND, LATENT_BOUND]^2`` (SB3 needs finite bounds);
    the env gets ``low + (high - low) * sigmoid(u)``, inside its Box."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self.low = env.action_space.low.astype(np.float64)
        self.high = env.action_space.high.astype(np.float64)
        self.action_space = gymnasium.spaces.Box(-LATENT_BOUND, LATENT_BOUND, env.action_space.shape, np.float32)

    def action(self, action: np.ndarray) -> np.ndarray:
        return to_depths(action, self.low, self.high)


def to_depths(latent: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``low + (high - low) * sigmoid(latent)`` as float32."""
    squashed = 1.0 / (1.0 + np.exp(-np.asarray(latent, np.float64)))
    return (low + (high - low) * squashed).astype(np.float32)


def make_vec_env(env, params, n_envs: int, action_map: str) -> DummyVecEnv:
    """``n_envs`` adapters of the same env object (so they share one compiled step)."""
    def build() -> gymnasium.Env:
        adapter = to_gymnasium(env, params)
        return SigmoidDepths(adapter) if action_map == "sigmoid" else adapter
    return DummyVecEnv([build] * n_envs)


def evaluate(model: PPO, vecnorm: VecNormalize, env, params, n_envs: int, action_map: str, episodes: int,
             seed: int) -> np.ndarray:
    """Episode returns (the criterion) of the deterministic policy, ``episodes`` of them, through fresh adapters."""
    venv = make_vec_env(env, params, n_envs, action_map)
    venv.seed(seed)  # adapter i resets with seed + i, then continues its own key
    obs = venv.reset()
    running = np.zeros(n_envs)
    returns: list[float] = []
    while len(returns) < episodes:
        action, _ = model.predict(vecnorm.normalize_obs(obs), deterministic=True)
        obs, rewards, dones, _ = venv.step(action)
        running += rewards
        for i in np.flatnonzero(dones):
            returns.append(running[i])
            running[i] = 0.0
    venv.close()
    # Every episode lasts max_steps_in_episode steps, so the copies finish together: the first
    # ``episodes`` are not biased towards short ones.
    return np.array(returns[:episodes])


def exact_value(model: PPO, vecnorm: VecNormalize, env, params, action_map: str) -> float:
    """The policy's exact expected criterion from a flat start: its deterministic depths at every
    (step, inventory), then backward induction (``policy_value``)."""
    steps, cap = int(params.max_steps_in_episode), int(params.max_inventory)
    _, base = env.reset_env(jax.random.key(0), params)
    times, inventories = jnp.meshgrid(jnp.arange(steps), jnp.arange(-cap, cap + 1), indexing="ij")
    cell_obs = jax.vmap(lambda t, q: env.get_obs(base.replace(time=t, inventory=q), params))
    grid = np.asarray(cell_obs(times.ravel(), inventories.ravel()))
    action, _ = model.predict(vecnorm.normalize_obs(grid), deterministic=True)
    low = np.zeros(2)
    high = np.full(2, float(params.max_depth))
    depths = to_depths(action, low, high) if action_map == "sigmoid" else np.clip(action, low, high)
    depths = depths.astype(np.float64).reshape(steps, 2 * cap + 1, 2)
    return float(policy_value(depths, params)[0, cap])


def jaxmarket_demo(demo_dir: Path, run: bool, seed: int) -> dict | None:
    """``comparison.json`` of a ``jaxmarket demo`` run in ``demo_dir``: run it first if ``run``
    (its wall time measured here too), else read an earlier run's (None if there is none)."""
    wall = None
    if run:
        executable = Path(sys.executable).with_name("jaxmarket")  # the console script beside this Python
        command = [str(executable) if executable.exists() else "jaxmarket", "demo", "--out", str(demo_dir),
                   "--seed", str(seed), "--no-progress"]
        print("running:", " ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start
    path = demo_dir / "comparison.json"
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    result["command_wall_s"] = wall
    return result


def format_table(sb3: dict, demo: dict | None, h00: float) -> str:
    lines = [
        f"Cartea–Jaimungal h(0, 0) = {h00:.3f}; CPU: {cpu_model()} ({jax.device_count()} JAX device)",
        "",
        "| learner | criterion (± s.e.) | exact (DP) | % of h(0,0) | env steps | train wall (s) | env steps/s |",
        "|---|---|---|---|---|---|---|",
        f"| SB3 PPO via to_gymnasium ({sb3['n_envs']} envs, {sb3['action_map']}) | {sb3['criterion']:.3f} ± "
        f"{sb3['criterion_se']:.3f} | {sb3['exact']:.3f} | {100 * sb3['criterion'] / h00:.2f} | "
        f"{sb3['env_steps']:,} | {sb3['train_wall_s']:.1f} | {sb3['env_steps'] / sb3['train_wall_s']:,.0f} |",
    ]
    if demo is not None:
        ppo = next(row for row in demo["rows"] if row["policy"].startswith("PPO"))
        optimal = next(row for row in demo["rows"] if row["policy"].startswith("Cartea"))
        lines.append(
            f"| jaxmarket PPO in JAX (`jaxmarket demo`) | {ppo['criterion']:.3f} ± {ppo['criterion_se']:.3f} | "
            f"{ppo['exact']:.3f} | {100 * ppo['share_of_h00']:.2f} | {demo['env_steps']:,} | "
            f"{demo['train_wall_s']:.1f} | {demo['env_steps'] / demo['train_wall_s']:,.0f} |")
        lines.append(
            f"| Cartea–Jaimungal (optimal, from the demo) | {optimal['criterion']:.3f} ± "
            f"{optimal['criterion_se']:.3f} | {optimal['exact']:.3f} | {100 * optimal['share_of_h00']:.2f} | | | |")
        ratio = (demo["env_steps"] / demo["train_wall_s"]) / (sb3["env_steps"] / sb3["train_wall_s"])
        lines += ["", f"env steps/s, jaxmarket PPO / SB3 via the adapter: {ratio:,.0f}x (wall times include "
                      f"compilation; the demo's after compiling: {demo['train_steps_per_s']:,.0f} steps/s)."]
    lines += ["", f"SB3 evaluated over {sb3['episodes']} episodes (deterministic policy, through the adapter); "
                  "the demo over its own 10,000 (`jm.evaluate`). exact (DP): expected criterion by backward induction."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=500_000, help="SB3 training env steps")
    parser.add_argument("--n-envs", type=int, default=8, help="adapters in SB3's DummyVecEnv")
    parser.add_argument("--seed", type=int, default=0, help="training seed (SB3, torch and the adapters)")
    parser.add_argument("--out", default="runs/sb3-market-making",
                        help="folder for results.md, results.json, the model")
    parser.add_argument("--eval-episodes", type=int, default=500, help="evaluation episodes of the SB3 policy")
    parser.add_argument("--eval-seed", type=int, default=1, help="seed of the evaluation episodes")
    parser.add_argument("--action-map", choices=("sigmoid", "clip"), default="sigmoid",
                        help="sigmoid: latent actions squashed into [0, max_depth]; clip: SB3's plain clipping")
    parser.add_argument("--demo-dir", default=None, help="jaxmarket demo run folder (default: OUT/jaxmarket-demo)")
    parser.add_argument("--run-demo", action=argparse.BooleanOptionalAction, default=True,
                        help="run `jaxmarket demo` into --demo-dir after training (--no-run-demo: read an earlier run)")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env, params = jm.make(ENV_ID, **CRITERION)
    h00 = cartea_jaimungal_value(0.0, 0, **CRITERION)

    venv = VecNormalize(make_vec_env(env, params, args.n_envs, args.action_map), norm_obs=True, norm_reward=True,
                        clip_obs=10.0, clip_reward=10.0, gamma=1.0)
    n_steps = max(64, 2048 // args.n_envs)  # about 2048 env steps per update
    model = PPO(
        "MlpPolicy", venv,
        n_steps=n_steps,
        batch_size=512,
        n_epochs=5,
        learning_rate=lambda progress: 1e-3 * progress,  # annealed linearly to 0, as jaxmarket's preset
        gamma=1.0,  # the criterion is an undiscounted sum over a finite horizon
        gae_lambda=0.8,  # the reward carries unpredictable noise q'·dS: a short trace
        clip_range=0.2,
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs={"net_arch": [32, 32], "log_std_init": 0.0},  # tanh layers: SB3's PPO default
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    print(f"SB3 PPO on {ENV_ID} {CRITERION}: {args.timesteps:,} env steps, {args.n_envs} adapters, "
          f"n_steps {n_steps}, action map {args.action_map}", flush=True)
    start = time.perf_counter()
    model.learn(total_timesteps=args.timesteps)
    train_wall = time.perf_counter() - start
    print(f"trained: {model.num_timesteps:,} env steps in {train_wall:.1f} s", flush=True)
    model.save(out / "sb3_ppo")
    venv.save(str(out / "vecnormalize.pkl"))

    start = time.perf_counter()
    returns = evaluate(model, venv, env, params, args.n_envs, args.action_map, args.eval_episodes, args.eval_seed)
    eval_wall = time.perf_counter() - start
    sb3 = {
        "n_envs": args.n_envs, "action_map": args.action_map, "episodes": args.eval_episodes,
        "criterion": float(returns.mean()), "criterion_se": float(returns.std(ddof=1) / np.sqrt(len(returns))),
        "exact": exact_value(model, venv, env, params, args.action_map),
        "env_steps": int(model.num_timesteps), "train_wall_s": train_wall, "eval_wall_s": eval_wall,
    }
    print(f"evaluated {args.eval_episodes} episodes in {eval_wall:.1f} s", flush=True)

    demo_dir = Path(args.demo_dir) if args.demo_dir else out / "jaxmarket-demo"
    demo = jaxmarket_demo(demo_dir, args.run_demo, args.seed)
    if demo is None:
        print(f"no jaxmarket demo results in {demo_dir}: the table has the SB3 row only")
    table = format_table(sb3, demo, h00)
    print(table)
    (out / "results.md").write_text(table + "\n")
    demo_keys = ("rows", "train_wall_s", "train_steps_per_s", "env_steps", "command_wall_s")
    summary = {"h00": h00, "sb3": sb3, "cpu": cpu_model(), "jaxmarket_demo": demo and {k: demo[k] for k in demo_keys}}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"written: {out / 'results.md'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
