"""Multi-agent PPO on the OTC dealer market (``jaxmarket/OTC-v0``): the training market, the
family roles, checkpoints. ``jaxmarket train otc`` runs it from the command line.

The training market (preset ``"market"``) is OTC-v0 with supertypes wide enough for the
behaviours to show: LP risk aversion gamma ~ U(0, 2), PnL weight omega ~ U(0, 1) against a market
share target m* = 1 (so the share term rewards share itself), share weight c ~ U(0, 5); RL clients
half PnL-only (omega = 1), half schedule-only (omega = 0). Preset ``"default"`` is OTC-v0 as it is.

Each family is learned (``"learn"``), played by its heuristic (``"heuristic"``: curve-pricing
hedging dealers, cheapest-quote clients; ``jaxmarket.otc.dealer``) or by uniformly random
actions (``"random"``: dealers whose quotes range from far inside to far outside the ECN).

Preset ``"clients"`` is the market in which the client experiment trains its clients (against
random dealers): RL client omega is 0 or 1, gamma ~ U(0, 0.1) and alpha ~ U(2, 6). Preset
``"schedule"`` is the same with every client schedule-only (omega = 0).

    trainer = build(MAPPOConfig(...), preset="market", overrides={"n_lts": 4}, roles={"lp": "learn", "lt": "learn"})
    runner, rows = loop.run(trainer, key, metadata=metadata(...), out_dir="runs/otc")
    trainer, policy, meta = load("runs/otc/final")

A learned family can start from a policy checkpoint of that family (an offline learner trained on
its turns of an OTC-v0 recording): ``build(..., warm_start={"lp": "runs/bc_lp/final"})``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

import jaxmarket as jm
from jaxmarket.otc.dealer import cheapest_quote_lt_actions, heuristic_lp_actions
from jaxmarket.core.supertypes import Categorical, Supertype, Uniform
from jaxmarket.core.validation import check_choice
from jaxmarket.envs.otc import OTC
from jaxmarket.otc.types import default_lp_supertype, default_lt_supertype
from training.learners import checkpoint
from training.learners.mappo import FixedPolicy, MAPPOConfig, Trainer, make_policy, make_trainer
from training.learners.warm_start import load_family_warm_start

ENV_ID = "jaxmarket/OTC-v0"
LEARN = "learn"
HEURISTIC = "heuristic"
RANDOM = "random"
ROLES = (LEARN, HEURISTIC, RANDOM)
DEFAULT_ROLES = {"lp": LEARN, "lt": LEARN}
MARKET_SIZES = {"n_lps": 4, "n_lts": 4, "n_flow": 12}
CLIENT_GAMMA_MAX = 0.1
CLIENT_ALPHA = (2.0, 6.0)  # bp-units of PnL weigh less than units of schedule gap; this evens them

PPO_CONFIG = MAPPOConfig(num_envs=512, num_rounds=32, total_rounds=4_000_000, num_minibatches=4)
"""The preset used by ``jaxmarket train otc`` (about 2.5 minutes on a 2-core CPU)."""


def market_lp_supertype() -> Supertype:
    """LP types of the training market: wide risk aversion and incentive ranges, share target 1."""
    return {**default_lp_supertype(), "gamma": Uniform(0.0, 2.0), "omega": Uniform(0.0, 1.0),
            "target_share": Uniform(1.0, 1.0), "share_weight": Uniform(0.0, 5.0)}


def market_lt_supertype() -> Supertype:
    """RL client types of the training market: half PnL-only (omega = 1), half schedule-only (omega = 0)."""
    return {**default_lt_supertype(), "omega": Categorical((0.0, 1.0), (0.5, 0.5))}


def clients_lt_supertype() -> Supertype:
    """RL client types of the clients' market: as the training market's, nearly risk-neutral
    (gamma ~ U(0, CLIENT_GAMMA_MAX)), so a PnL-only client can profit from a quote below the mid,
    with PnL scaled up (alpha ~ U(CLIENT_ALPHA)) so that its rewards weigh as much in the shared
    policy's updates as a schedule client's."""
    return {**market_lt_supertype(), "gamma": Uniform(0.0, CLIENT_GAMMA_MAX), "alpha": Uniform(*CLIENT_ALPHA)}


def schedule_lt_supertype() -> Supertype:
    """RL client types of the schedule population: every client weighs only its execution schedule."""
    return {**clients_lt_supertype(), "omega": Uniform(0.0, 0.0)}


PRESETS = {
    "market": lambda: {**MARKET_SIZES, "lp_supertype": market_lp_supertype(), "lt_supertype": market_lt_supertype()},
    "clients": lambda: {**MARKET_SIZES, "lt_supertype": clients_lt_supertype()},
    "schedule": lambda: {**MARKET_SIZES, "lt_supertype": schedule_lt_supertype()},
    "default": lambda: dict(MARKET_SIZES),
}


def make_env(preset: str = "market", overrides: dict[str, Any] | None = None) -> tuple[OTC, Any]:
    """OTC-v0 and its parameters from a preset, with ``overrides`` (env options and param fields) on top."""
    check_choice("preset", preset, tuple(PRESETS))
    overrides = dict(overrides or {})
    if isinstance(overrides.get("turn_order"), list):  # from a checkpoint's JSON metadata
        overrides["turn_order"] = tuple(tuple(phase) for phase in overrides["turn_order"])
    return jm.make(ENV_ID, **{**PRESETS[preset](), **overrides})


def fixed_policy(family: str, role: str, env: OTC) -> FixedPolicy:
    """The fixed policy ``act(key, obs (n, d), params)`` playing ``family`` in ``role``:
    ``"heuristic"`` (``jaxmarket.otc.dealer``) or ``"random"`` (uniform over the action space)."""
    check_choice("family", family, ("lp", "lt"))
    check_choice(f"role of {family}", role, (HEURISTIC, RANDOM))
    if role == RANDOM:
        def uniform(key, obs, params):
            space = env.action_space(family, params)
            return jax.vmap(space.sample)(jax.random.split(key, obs.shape[0]))

        return uniform
    if family == "lp":
        return lambda key, obs, params: heuristic_lp_actions(obs, env.config, params)
    return lambda key, obs, params: cheapest_quote_lt_actions(obs, env.config, params)


def check_roles(roles: dict[str, str]) -> dict[str, str]:
    """Every family's role, defaults filled in; ``ValueError`` naming a bad family or role."""
    for family, role in roles.items():
        check_choice("family", family, tuple(DEFAULT_ROLES))
        check_choice(f"role of {family}", role, ROLES)
    return {**DEFAULT_ROLES, **roles}


def build(config: MAPPOConfig, preset: str = "market", overrides: dict[str, Any] | None = None,
          roles: dict[str, str] | None = None, warm_start: dict[str, str] | None = None) -> Trainer:
    """The trainer for the OTC market: ``config.learn`` is replaced by the families whose role
    is ``"learn"``; the others get their fixed policy.

    Args:
        config: the multi-agent PPO hyperparameters.
        preset: a key of ``PRESETS``.
        overrides: env options and parameter fields on top of the preset.
        roles: each family's role (default ``"learn"``).
        warm_start: a policy checkpoint directory for each learned family that starts from one
            (``load_family_warm_start``: the checkpoint's env id, family and network fields must be the run's).

    Raises:
        ValueError: a bad preset, override, role or config field; a warm start for a family that is
            not learned (naming it and the learned ones) or whose checkpoint does not fit.
    """
    roles = check_roles(roles or {})
    env, params = make_env(preset, overrides)
    learn = tuple(f for f in env.families if roles[f] == LEARN)
    fixed = {f: fixed_policy(f, roles[f], env) for f in env.families if roles[f] != LEARN}
    config = dataclasses.replace(config, learn=learn)
    warm = {}
    for family, directory in (warm_start or {}).items():
        if family not in learn:
            raise ValueError(f"warm_start: family {family!r} is not learned; warm starts are for the learned families "
                             f"{list(learn)}")
        warm[family] = load_family_warm_start(directory, config, env, params, family, env_id=ENV_ID)
    return make_trainer(config, env, params, fixed, warm_start=warm)


def metadata(preset: str, overrides: dict[str, Any], roles: dict[str, str],
             warm_start: dict[str, str] | None = None) -> dict[str, Any]:
    """What a checkpoint needs to rebuild the env and the fixed policies (JSON), and the policy
    checkpoints the learned families started from (``warm_start``, by family; left out if none)."""
    meta = {"env_id": ENV_ID, "preset": preset, "env_overrides": overrides, "roles": check_roles(roles)}
    if warm_start:
        meta["warm_start"] = {family: str(directory) for family, directory in warm_start.items()}
    return meta


def load(directory: Any, deterministic: bool = True) -> tuple[Trainer, Any, dict[str, Any]]:
    """``(trainer, policy, metadata)`` from a checkpoint of an OTC run; the policy plays every
    family (learned networks and fixed heuristics) for ``jaxmarket.evaluate``."""
    meta = checkpoint.read_metadata(directory)
    if meta.get("env_id") != ENV_ID or not {"roles", "preset", "config", "env_overrides"} <= set(meta):
        raise ValueError(f"checkpoint = {str(directory)!r} is not a multi-agent {ENV_ID} run "
                         f"(env_id = {meta.get('env_id')!r}): give a directory written by 'jaxmarket train otc'")
    config = checkpoint.config_from(MAPPOConfig, meta["config"])
    trainer = build(config, meta["preset"], meta["env_overrides"], meta["roles"])
    net_params, obs_stats = trainer.restore(directory)
    return trainer, make_policy(trainer, net_params, obs_stats, deterministic), meta


__all__ = ["ENV_ID", "PPO_CONFIG", "PRESETS", "ROLES", "build", "fixed_policy", "load", "make_env",
           "market_lp_supertype", "market_lt_supertype", "metadata"]

