"""Measuring what OTC agents do: batched episodes recorded round by round, with chosen agents'
types pinned, and a learned family's response to one observation column.

``record(env, params, policy, num_episodes, seed, pin)`` runs ``num_episodes`` episodes (one
jitted, vmapped scan over rounds, the phases of a round unrolled) and returns numpy arrays with
axes (episode, round, agent, ...):

- ``lp_obs`` (E, R, n_lps, d_lp), ``lp_action`` (E, R, n_lps, n_tiers + 2): what each LP saw and
  did in its phase (the action clipped to its space, as the env applies it);
- ``lt_obs`` (E, R, n_lts, d_lt), ``lt_action`` (E, R, n_lts): the same for the RL clients (whose
  observation holds this round's quotes when they act after the LPs, as in a Stackelberg round);
- ``lp_reward`` (E, R, n_lps), ``lt_reward`` (E, R, n_lts): the round's rewards (bp-units);
- ``venue``, ``side``, ``size`` (E, R, n_clients): each client's trade (venue n_lps is the ECN,
  n_lps + 1 no trade; side +1 buy, -1 sell, 0 none);
- ``hedge`` (E, R, n_lps): units each LP traded on the ECN; ``inventory`` (E, R, n_lps) after it;
- ``lt_executed``, ``lt_target`` (E, n_lts): each RL client's signed units executed over the
  episode and its target; ``lp_types`` (E, n_lps, F), ``lt_types`` (E, n_lts, F');
- the episode metrics (``jaxmarket.otc.metrics``), each with a leading episode axis.

The rounds are scanned by ``training.tasks.otc.episode.scan_rounds``. Episodes share their keys across
calls with the same ``seed``: two policies recorded with the
same seed face the same types, connections, tiers, flow and prices (as long as the policies do not
change them), which makes paired comparisons.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.evaluate import Policy
from jaxmarket.core.keys import seed_key
from jaxmarket.core.validation import check_choice, check_int, check_range
from jaxmarket.envs.otc import OTC
from jaxmarket.otc import market
from jaxmarket.otc.types import LP_TYPE_BOUNDS, LP_TYPE_FIELDS, LT_TYPE_BOUNDS, LT_TYPE_FIELDS
from training.tasks.otc.episode import scan_rounds

Pin = dict[str, dict[str, float]]
"""``{family: {type field: value}}``: types set for the pinned agents after each reset."""

FIELDS = {"lp": LP_TYPE_FIELDS, "lt": LT_TYPE_FIELDS}
BOUNDS = {"lp": LP_TYPE_BOUNDS, "lt": LT_TYPE_BOUNDS}


def pin_types(state: market.OTCState, pin: Pin, agents: dict[str, int]) -> market.OTCState:
    """``state`` with ``pin``'s type fields set for the first ``agents[family]`` agents of each
    family (for clients: RL clients only, never the flow clients that follow them)."""
    types = {"lp": state.lp_types, "lt": state.client_types}
    for family, fields in pin.items():
        for field, value in fields.items():
            col = FIELDS[family].index(field)
            types[family] = types[family].at[: agents[family], col].set(value)
    return state.replace(lp_types=types["lp"], client_types=types["lt"])


@functools.partial(jax.jit, static_argnums=(0, 1, 3, 4, 6))
def _record(env: OTC, policy: Policy, params: Any, num_episodes: int, n_rounds: int, key: jax.Array, pin_items: tuple,
            values: jax.Array) -> dict:
    pin: Pin = {}
    agents: dict[str, int] = {}
    for (family, field, n), value in zip(pin_items, values):
        pin.setdefault(family, {})[field] = value
        agents[family] = n
    lp_space = env.action_space("lp", params)

    def row(seen, start, state, rewards, info):
        del start
        trades = info["trades"]
        return {
            "lp_obs": seen["lp"][0], "lp_action": jnp.clip(seen["lp"][1], lp_space.low, lp_space.high),
            "lt_obs": seen["lt"][0], "lt_action": jnp.asarray(seen["lt"][1]).reshape(env.config.n_lts),
            "lp_reward": rewards["lp"], "lt_reward": rewards["lt"], "venue": trades["venue"],
            "side": trades["side"], "size": trades["size"], "hedge": trades["hedge"],
            "inventory": state.lp_inventory,
        }

    def episode(key):
        rows, final = scan_rounds(env, params, policy, key, n_rounds, row, lambda s: pin_types(s, pin, agents))
        n_lts = env.config.n_lts
        target = final.client_types[:n_lts, LT_TYPE_FIELDS.index("target")]
        return {**rows, **env.episode_metrics(final, params), "lt_executed": final.client_executed[:n_lts],
                "lt_target": target, "lp_types": final.lp_types, "lt_types": final.client_types[:n_lts]}

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


def record(env: OTC, params: Any, policy: Policy, num_episodes: int = 256, seed: int = 0,
           pin: Pin | None = None, agents: dict[str, int | None] | None = None) -> dict[str, np.ndarray]:
    """Record ``num_episodes`` episodes of ``policy`` (see the module docstring). ``pin`` sets type
    fields of the first ``agents[family]`` agents (default: all of the family's agents; for
    clients, the RL clients) after each reset, to values inside the fields' bounds."""
    env.check_params(params)
    check_int("num_episodes", num_episodes, 1)
    pin, agents = pin or {}, agents or {}
    counts = {}
    for family, fields in pin.items():
        check_choice("pin family", family, tuple(FIELDS))
        n_agents = env.num_agents[family]
        n = agents.get(family)
        counts[family] = n_agents if n is None else n
        check_int(f"agents[{family!r}]", counts[family], 1, n_agents)
        for field, value in fields.items():
            check_choice(f"pin field of {family}", field, FIELDS[family])
            check_range(f"{family}.{field}", value, *BOUNDS[family][field])
    items = tuple((f, field, counts[f]) for f, fields in sorted(pin.items()) for field in sorted(fields))
    values = jnp.asarray([pin[f][field] for f, field, _ in items], jnp.float32)
    out = _record(env, policy, params, num_episodes, int(params.n_rounds), seed_key(seed), items, values)
    return jax.tree.map(np.asarray, out)


def response(act: Any, obs: np.ndarray, column: int, values: np.ndarray) -> np.ndarray:
    """Actions ``act(obs)`` with ``obs[..., column]`` set to each of ``values``: an array
    (len(values), *obs.shape[:-1], action...) — a learned family's response to one feature or
    type field, everything else as observed."""
    obs = jnp.asarray(obs, jnp.float32)
    batched = jax.jit(jax.vmap(lambda v: act(obs.at[..., column].set(v))))
    return np.asarray(batched(jnp.asarray(values, jnp.float32)))
