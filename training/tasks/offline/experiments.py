"""The offline-RL experiments (``jaxmarket experiment offline-rl|warm-start|held-out-types``): each
records behaviour data with ``jm.record``, trains on it, evaluates with ``jm.evaluate`` and writes a
markdown table and a JSON file (and, for ``warm-start``, a PNG of the learning curves) to ``--out``.

- ``offline-rl``: IQL and behaviour cloning on logs of a noisy behaviour policy, against that
  policy over the same evaluation episodes (paired differences): OTC-LP-v0 from the heuristic
  dealer, Execution-v0 from TWAP and always-passive.
- ``warm-start``: PPO from a behaviour-cloned actor and fitted critic against PPO from scratch, 3
  seeds each, on MarketMaking-AS-v0 and OTC-LP-v0: env steps to reach 95% of the way from the
  random policy's return to the from-scratch run's final return.
- ``held-out-types``: one type-conditioned policy cloned from dealer data at risk aversions
  gamma in {0, 0.5, 1.5, 2}, evaluated at gamma = 1, against a policy cloned from gamma = 1 data.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

import jaxmarket as jm
from jaxmarket.core.evaluate import episode_steps
from jaxmarket.core.keys import seed_key
from jaxmarket.core.supertypes import Categorical, Uniform
from jaxmarket.core.validation import check_int
from jaxmarket.otc.types import default_lp_supertype
from training.learners import bc, iql, ppo
from training.learners.bc import BCConfig
from training.learners.iql import IQLConfig
from training.learners.normalize import STD_EPS
from training.learners.warm_start import return_stats
from training.plotting import panels, save_panels
from training.tasks.market_making.comparison import PPO_CONFIG as MM_PPO_CONFIG
from training.tasks.offline.behaviour import behaviour_policy, noise_label
from training.tasks.offline.command import EVAL_SEED, check_eval_seed
from training.tasks.registry import register

EVAL_EPISODES = 1000
MM_ID, OTC_LP_ID, EXECUTION_ID = "jaxmarket/MarketMaking-AS-v0", "jaxmarket/OTC-LP-v0", "jaxmarket/Execution-v0"
MM_OVERRIDES = {"phi": 0.01, "alpha": 0.001}  # the demo's Cartea–Jaimungal criterion
THRESHOLD = 0.95  # of the way from the random policy's return to the from-scratch final return
FINAL_UPDATES = 10  # the from-scratch run's final return: the mean over its last updates
SMOOTH_UPDATES = 5  # a curve reaches the threshold when its running mean over these updates does
HELD_OUT_GAMMA = 1.0
TRAINING_GAMMAS = (0.0, 0.5, 1.5, 2.0)
OTC_LP_PPO_CONFIG = ppo.PPOConfig(
    num_envs=256, num_steps=96, total_timesteps=5_000_000, update_epochs=4, num_minibatches=8, learning_rate=3e-4,
    ent_coef=0.0, init_log_std=-0.5,
)
"""PPO on OTC-LP-v0 for the warm-start experiment: one 96-round episode per env per update."""
WARM_KL_COEF = 0.01  # the warm-started runs' KL weight to the cloned policy (0.1 held MarketMaking-AS-v0 at the clone's noise)


@dataclasses.dataclass(frozen=True)
class OfflineExperimentConfig:
    """The options every offline experiment takes."""

    transitions: int = 1_000_000
    """behaviour transitions recorded per dataset (rounded up to whole episodes), >= 1"""
    noise: float = 0.1
    """the behaviour policy's exploration noise (jaxmarket dataset record --noise)"""
    noise_space: Literal["action", "policy"] = "action"
    """where a Box action's noise is added (jaxmarket dataset record --noise-space)"""
    gradient_steps: int = 100_000
    """gradient steps of each offline learner, >= 1"""
    episodes: int = EVAL_EPISODES
    """evaluation episodes per policy, >= 2"""
    seed: int = 0
    """recording and training seed"""
    eval_seed: int = EVAL_SEED
    """evaluation seed (the same episodes for every policy)"""
    out: str = "runs/offline"
    """directory for the tables, JSON and plots"""


@dataclasses.dataclass(frozen=True)
class OfflineRLConfig(OfflineExperimentConfig):
    """Offline RL beats its data: IQL and behaviour cloning against the noisy behaviour policy that logged the data
    (OTC-LP-v0 from the heuristic dealer, Execution-v0 from TWAP and always-passive)."""

    envs: tuple[str, ...] = ("otc-lp", "execution")
    """which: otc-lp, execution"""
    execution_transitions: int | None = None
    """Execution-v0's transitions (its background market makes it slow); None: --transitions"""


@dataclasses.dataclass(frozen=True)
class WarmStartConfig(OfflineExperimentConfig):
    """Warm start pays: PPO from a behaviour-cloned actor and fitted critic against PPO from scratch (3 seeds, on
    MarketMaking-AS-v0 and OTC-LP-v0), env steps to 95% of the from-scratch final return."""

    envs: tuple[str, ...] = ("market-making", "otc-lp")
    """which: market-making, otc-lp"""
    seeds: int = 3
    """PPO seeds per arm, >= 1"""
    total_timesteps: int | None = None
    """PPO env steps per run; None: each env's preset"""
    mm_noise: float = 0.02
    """the market-making behaviour's noise (the optimal depths; 0.1 of the depth range halves its criterion)"""
    warm_kl_coef: float = WARM_KL_COEF
    """PPO's warm_kl_coef in the warm-started runs"""


@dataclasses.dataclass(frozen=True)
class HeldOutTypesConfig(OfflineExperimentConfig):
    """Held-out types: one policy distilled (cloned) from dealer data at gamma in {0, 0.5, 1.5, 2}, evaluated at
    gamma = 1 against one cloned from gamma = 1 data (OTC-LP-v0)."""

    seeds: int = 1
    """independent repetitions (recording and cloning seeds seed, seed + 1, ...), >= 1; with several, the s.e. are
    over the seeds' means"""


# ---------------------------------------------------------------------------------------------------------------
# shared steps


def stats_row(name: str, returns: np.ndarray) -> dict[str, Any]:
    """``{"policy", "mean", "se"}`` of an evaluation's returns."""
    returns = np.asarray(returns, np.float64)
    return {"policy": name, "mean": float(returns.mean()), "se": float(returns.std(ddof=1) / math.sqrt(len(returns)))}


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The mean of ``a - b`` over the same episodes and its standard error."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def record(env: Any, params: Any, policies: list[Any], transitions: int, seed: int) -> jm.Trajectories:
    """``transitions`` steps (whole episodes, split evenly between ``policies``) in one recording each."""
    episodes = math.ceil(transitions / episode_steps(env, params))
    parts = [jm.record(env, params, policy, max(1, episodes // len(policies)), seed=seed + i)
             for i, policy in enumerate(policies)]
    return jax.tree.map(lambda *x: np.concatenate(x), *parts) if len(parts) > 1 else parts[0]


def train_offline(module: Any, config: Any, env: Any, params: Any, transitions: Any, seed: int) -> tuple[Any, Any, float]:
    """``(trainer, final runner, wall seconds)`` of one offline run in one jit."""
    trainer = module.make_trainer(config, env, params, transitions)
    start = time.perf_counter()
    runner = jax.block_until_ready(jax.jit(trainer.train)(seed_key(seed), trainer.dataset)["runner"])
    return trainer, runner, time.perf_counter() - start


def recording_seeds(config: OfflineExperimentConfig, recordings: int) -> tuple[int, int]:
    """``[first, end)``: an experiment records with seeds ``seed, ..., seed + recordings - 1``."""
    return config.seed, config.seed + recordings


def evaluate(env: Any, params: Any, policy: Any, config: OfflineExperimentConfig) -> np.ndarray:
    """The returns of ``config.episodes`` evaluation episodes (seed ``config.eval_seed``)."""
    return np.asarray(jm.evaluate(env, params, policy, config.episodes, config.eval_seed)["return"])


def write(out: str, name: str, table: str, result: dict[str, Any]) -> None:
    """Print ``table`` and write ``<name>.md`` and ``<name>.json`` to ``out``."""
    print(table)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(table + "\n")
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2))


def table(rows: list[dict[str, Any]], reference: str, header: str) -> str:
    """A markdown table of rows (policy, mean ± s.e., paired difference to ``reference``)."""
    lines = [header, "", "| policy | mean return ± s.e. | minus the behaviour (paired) ± s.e. |", "|---|---|---|"]
    for row in rows:
        diff = "" if row["policy"] == reference else f"{row['diff']:+.3f} ± {row['diff_se']:.3f}"
        lines.append(f"| {row['policy']} | {row['mean']:.3f} ± {row['se']:.3f} | {diff} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# offline RL beats its data


def offline_rl_case(env_id: str, overrides: dict[str, Any], behaviours: tuple[str, ...], transitions: int,
                    config: OfflineRLConfig) -> dict[str, Any]:
    """One env of ``offline-rl``: record, train BC and IQL, evaluate all over the same episodes."""
    env, params = jm.make(env_id, **overrides)
    policies = [behaviour_policy(env_id, env, params, b, config.noise, config.noise_space) for b in behaviours]
    noise = f"noise {config.noise}{noise_label(config.noise_space)}"
    start = time.perf_counter()
    data = record(env, params, policies, transitions, config.seed)
    x = jm.to_transitions(data)
    record_s = time.perf_counter() - start
    bc_trainer, bc_runner, bc_s = train_offline(bc, BCConfig(num_updates=config.gradient_steps), env, params, x,
                                                config.seed)
    iql_trainer, iql_runner, iql_s = train_offline(iql, IQLConfig(num_updates=config.gradient_steps), env, params, x,
                                                   config.seed)
    returns = {f"behaviour: {name} ({noise})": evaluate(env, params, policy, config)
               for name, policy in zip(behaviours, policies)}
    mix = np.mean(list(returns.values()), axis=0)  # the data's policy: each behaviour on an equal share of episodes
    reference = f"behaviour: {'+'.join(behaviours)} ({noise})"
    if len(behaviours) > 1:
        returns[reference] = mix
    returns["behaviour cloning (sampled)"] = evaluate(env, params, bc_trainer.policy(bc_runner, False), config)
    returns["behaviour cloning (mode)"] = evaluate(env, params, bc_trainer.policy(bc_runner, True), config)
    returns["IQL (mode)"] = evaluate(env, params, iql_trainer.policy(iql_runner, True), config)
    rows = []
    for name, r in returns.items():
        row = stats_row(name, r)
        row["diff"], row["diff_se"] = paired(r, mix)
        rows.append(row)
    return {"env_id": env_id, "overrides": overrides, "transitions": len(x), "episodes": config.episodes,
            "gradient_steps": config.gradient_steps, "record_s": record_s, "bc_train_s": bc_s, "iql_train_s": iql_s,
            "rows": rows, "reference": reference, "device": jax.devices()[0].platform}


def run_offline_rl(config: OfflineRLConfig) -> dict[str, Any]:
    """``jaxmarket experiment offline-rl``."""
    cases = {"otc-lp": (OTC_LP_ID, {}, ("heuristic",), config.transitions),
             "execution": (EXECUTION_ID, {}, ("twap", "always-passive"),
                           config.execution_transitions or config.transitions)}
    unknown = set(config.envs) - set(cases)
    if unknown:
        raise ValueError(f"envs = {config.envs}: {sorted(unknown)} unknown, choose from {sorted(cases)}")
    check_eval_seed(config.eval_seed, recording_seeds(config, max(len(cases[name][2]) for name in config.envs)),
                    "this experiment")
    result, parts = {}, []
    for name in config.envs:
        case = offline_rl_case(*cases[name], config)
        result[name] = case
        parts.append(table(case["rows"], case["reference"],
                           f"**{case['env_id']}**: {case['transitions']:,} transitions, {case['gradient_steps']:,} "
                           f"gradient steps, {case['episodes']:,} evaluation episodes (seed {config.eval_seed})"))
    write(config.out, "offline_rl", "\n\n".join(parts), result)
    return result


# ---------------------------------------------------------------------------------------------------------------
# warm start


def ppo_curve(config: ppo.PPOConfig, env: Any, params: Any, seed: int, warm_start: ppo.WarmStart | None
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """``(env steps after each update, mean return of the episodes that ended in it, wall seconds)`` of one
    PPO run, over the updates in which episodes ended."""
    trainer = ppo.make_trainer(config, env, params, warm_start)
    start = time.perf_counter()
    metrics = jax.block_until_ready(jax.jit(trainer.train)(seed_key(seed))["metrics"])
    wall = time.perf_counter() - start
    ended = np.asarray(metrics["episodes"]) > 0  # updates in whose rollout episodes ended
    steps = np.arange(1, config.num_updates + 1) * config.batch_size
    return steps[ended], np.asarray(metrics["episode_return"], np.float64)[ended], wall


def steps_to(steps: np.ndarray, curve: np.ndarray, threshold: float) -> int | None:
    """The env steps at which the running mean of ``curve`` over ``SMOOTH_UPDATES`` updates first
    reaches ``threshold`` (None if it never does)."""
    window = min(SMOOTH_UPDATES, len(curve))
    smooth = np.convolve(curve, np.ones(window) / window, mode="valid")
    hit = np.nonzero(smooth >= threshold)[0]
    return None if hit.size == 0 else int(steps[hit[0] + window - 1])


def warm_start_case(env_id: str, overrides: dict[str, Any], behaviour: str, noise: float, ppo_config: ppo.PPOConfig,
                    config: WarmStartConfig) -> dict[str, Any]:
    """One env of ``warm-start``: clone the behaviour with PPO's network, then PPO from scratch and warm-started."""
    env, params = jm.make(env_id, **overrides)
    policy = behaviour_policy(env_id, env, params, behaviour, noise, config.noise_space)
    data = record(env, params, [policy], config.transitions, config.seed)
    stats = return_stats(data, ppo_config.gamma)
    cloning = BCConfig(num_updates=config.gradient_steps, hidden_sizes=ppo_config.hidden_sizes,
                       activation=ppo_config.activation, init_log_std=ppo_config.init_log_std, gamma=ppo_config.gamma,
                       reward_scale=1.0 / math.sqrt(float(stats.var) + STD_EPS))
    trainer, runner, clone_s = train_offline(bc, cloning, env, params, jm.to_transitions(data), config.seed)
    warm = ppo.WarmStart(runner.train_state.params, runner.obs_stats, stats)
    warm_config = dataclasses.replace(ppo_config, warm_kl_coef=config.warm_kl_coef)
    random_return = float(evaluate(env, params, jm.random_policy(env), config).mean())
    behaviour_return = float(evaluate(env, params, policy, config).mean())
    clone_return = float(evaluate(env, params, trainer.policy(runner), config).mean())
    arms: dict[str, list] = {"scratch": [], "warm": []}
    for seed in range(config.seeds):
        arms["scratch"].append(ppo_curve(ppo_config, env, params, config.seed + seed, None))
        arms["warm"].append(ppo_curve(warm_config, env, params, config.seed + seed, warm))
    final = float(np.mean([curve[-FINAL_UPDATES:].mean() for _, curve, _ in arms["scratch"]]))
    threshold = random_return + THRESHOLD * (final - random_return)
    reach = {arm: [steps_to(steps, curve, threshold) for steps, curve, _ in runs] for arm, runs in arms.items()}
    return {
        "env_id": env_id, "overrides": overrides, "behaviour": behaviour, "noise": noise, "noise_space": config.noise_space,
        "transitions": config.transitions,
        "clone_gradient_steps": config.gradient_steps, "clone_s": clone_s, "random_return": random_return,
        "behaviour_return": behaviour_return, "clone_return": clone_return, "scratch_final": final,
        "threshold": threshold, "steps_per_run": ppo_config.num_updates * ppo_config.batch_size, "reach": reach,
        "warm_kl_coef": config.warm_kl_coef,
        "curves": {arm: [{"steps": s.tolist(), "episode_return": c.tolist(), "wall_s": w} for s, c, w in runs]
                   for arm, runs in arms.items()},
        "device": jax.devices()[0].platform,
    }


def plot_warm_start(cases: dict[str, dict[str, Any]], path: Path) -> Path:
    """The learning curves of every case: one panel per env, each seed's curve, the threshold."""
    fig, axes = panels(len(cases))
    for ax, case in zip(axes, cases.values()):
        for arm, colour in (("scratch", "tab:blue"), ("warm", "tab:orange")):
            for i, run in enumerate(case["curves"][arm]):
                ax.plot(run["steps"], run["episode_return"], color=colour, alpha=0.7,
                        label=("from scratch" if arm == "scratch" else "warm-started (BC actor, fitted critic)")
                        if i == 0 else None)
        ax.axhline(case["threshold"], color="k", linestyle="--", label=f"{THRESHOLD:.0%} threshold")
        ax.set_title(case["env_id"])
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean episode return")
        ax.legend()
    return save_panels(fig, axes, path, "PPO from scratch and warm-started from behaviour cloning")


def run_warm_start(config: WarmStartConfig) -> dict[str, Any]:
    """``jaxmarket experiment warm-start``."""
    def with_steps(preset: ppo.PPOConfig) -> ppo.PPOConfig:
        steps = config.total_timesteps or preset.total_timesteps
        return dataclasses.replace(preset, total_timesteps=steps)

    cases = {"market-making": (MM_ID, MM_OVERRIDES, "optimal", config.mm_noise, with_steps(MM_PPO_CONFIG)),
             "otc-lp": (OTC_LP_ID, {}, "heuristic", config.noise, with_steps(OTC_LP_PPO_CONFIG))}
    unknown = set(config.envs) - set(cases)
    if unknown:
        raise ValueError(f"envs = {config.envs}: {sorted(unknown)} unknown, choose from {sorted(cases)}")
    check_eval_seed(config.eval_seed, recording_seeds(config, 1), "this experiment")
    result = {name: warm_start_case(*cases[name], config) for name in config.envs}
    lines = ["| env | behaviour | clone | random | scratch final | threshold | steps to threshold: scratch | warm | "
             "warm / scratch |", "|---|---|---|---|---|---|---|---|---|"]
    for case in result.values():
        scratch, warm = case["reach"]["scratch"], case["reach"]["warm"]
        ratio = ("n/a" if None in scratch or None in warm
                 else f"{np.mean(warm) / np.mean(scratch):.3f}")
        lines.append(f"| {case['env_id']} | {case['behaviour_return']:.2f} | {case['clone_return']:.2f} | "
                     f"{case['random_return']:.2f} | {case['scratch_final']:.2f} | {case['threshold']:.2f} | "
                     f"{scratch} | {warm} | {ratio} |")
    path = plot_warm_start(result, Path(config.out) / "warm_start.png")
    write(config.out, "warm_start", "\n".join(lines) + f"\n\ncurves: {path.name}", result)
    return result


# ---------------------------------------------------------------------------------------------------------------
# held-out types


def at_gamma(gammas: tuple[float, ...]) -> dict[str, Any]:
    """OTC-LP-v0 overrides whose LPs draw gamma uniformly from ``gammas`` (the other type fields as default)."""
    supertype = default_lp_supertype()
    supertype["gamma"] = (Uniform(gammas[0], gammas[0]) if len(gammas) == 1
                          else Categorical(jnp.asarray(gammas, jnp.float32),
                                           jnp.full(len(gammas), 1.0 / len(gammas), jnp.float32)))
    return {"lp_supertype": supertype}


def seed_stats(values: np.ndarray) -> tuple[float, float]:
    """The mean of ``(seeds, episodes)`` values and its s.e.: over the episodes with one seed, over the seeds'
    means with several."""
    values = np.asarray(values, np.float64)
    if values.shape[0] == 1:
        return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.shape[1]))
    means = values.mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(len(means)))


def run_held_out_types(config: HeldOutTypesConfig) -> dict[str, Any]:
    """``jaxmarket experiment held-out-types``."""
    check_int("seeds", config.seeds, 1)
    check_eval_seed(config.eval_seed, recording_seeds(config, config.seeds), "this experiment")
    cloning = BCConfig(num_updates=config.gradient_steps)
    sources = {"distilled (gamma in {0, 0.5, 1.5, 2})": TRAINING_GAMMAS, f"cloned at gamma = {HELD_OUT_GAMMA:g}":
               (HELD_OUT_GAMMA,)}
    held_env, held_params = jm.make(OTC_LP_ID, **at_gamma((HELD_OUT_GAMMA,)))
    returns: dict[str, list[np.ndarray]] = {name: [] for name in sources}
    for seed in range(config.seed, config.seed + config.seeds):
        for name, gammas in sources.items():
            env, params = jm.make(OTC_LP_ID, **at_gamma(gammas))
            behaviour = behaviour_policy(OTC_LP_ID, env, params, "heuristic", config.noise, config.noise_space)
            data = record(env, params, [behaviour], config.transitions, seed)
            trainer, runner, _ = train_offline(bc, cloning, env, params, jm.to_transitions(data), seed)
            returns[name].append(evaluate(held_env, held_params, trainer.policy(runner), config))
    heuristic = evaluate(held_env, held_params, behaviour_policy(OTC_LP_ID, held_env, held_params, "heuristic"), config)
    returns["heuristic (noise-free)"] = [heuristic]  # one evaluation: its s.e. is over the episodes
    reference = f"cloned at gamma = {HELD_OUT_GAMMA:g}"
    ref = np.asarray(returns[reference], np.float64)
    rows = []
    for name, r in returns.items():
        r = np.asarray(r, np.float64)
        mean, se = seed_stats(r)
        diff, diff_se = seed_stats(r - ref)
        rows.append({"policy": name, "mean": mean, "se": se, "diff": diff, "diff_se": diff_se,
                     "relative": diff / abs(float(ref.mean())),
                     "relative_per_seed": [float(d) for d in (r - ref).mean(axis=1) / np.abs(ref.mean(axis=1))]})
    seeds = f"{config.seeds} seeds, s.e. over the seeds" if config.seeds > 1 else f"seed {config.seed}"
    lines = [f"OTC-LP-v0 at gamma = {HELD_OUT_GAMMA:g} (held out of the distilled policy's data), "
             f"{config.episodes:,} episodes; {config.transitions:,} transitions and {config.gradient_steps:,} gradient "
             f"steps per policy; {seeds}", "",
             "| policy | mean return ± s.e. | minus the gamma = 1 clone (paired) | relative | relative per seed |",
             "|---|---|---|---|---|"]
    for row in rows:
        per_seed = ", ".join(f"{x:+.1%}" for x in row["relative_per_seed"])
        lines.append(f"| {row['policy']} | {row['mean']:.3f} ± {row['se']:.3f} | {row['diff']:+.3f} ± "
                     f"{row['diff_se']:.3f} | {row['relative']:+.2%} | {per_seed} |")
    result = {"rows": rows, "transitions": config.transitions, "gradient_steps": config.gradient_steps,
              "episodes": config.episodes, "seeds": config.seeds, "noise": config.noise,
              "noise_space": config.noise_space, "device": jax.devices()[0].platform}
    write(config.out, "held_out_types", "\n".join(lines), result)
    return result


register(("experiment", "offline-rl"), OfflineRLConfig, run_offline_rl, (OfflineRLConfig.__doc__ or "").splitlines()[0])
register(("experiment", "warm-start"), WarmStartConfig, run_warm_start, (WarmStartConfig.__doc__ or "").splitlines()[0])
register(("experiment", "held-out-types"), HeldOutTypesConfig, run_held_out_types,
         (HeldOutTypesConfig.__doc__ or "").splitlines()[0])
