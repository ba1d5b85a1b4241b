"""``jaxmarket/MarketMaking-AS-v0``: the Avellaneda–Stoikov market-making model.

The mid price follows ``dS = sigma dW`` from ``S0``. Each step (``dt = horizon / steps``) the agent
posts a bid ``S - delta_b`` and an ask ``S + delta_a``. Each side is filled for one unit with
probability ``min(1, A exp(-k delta) dt)`` (independently), then the mid moves by
``sigma sqrt(dt) Z``. Fills that would take ``|inventory|`` past ``max_inventory`` do not happen,
so the inventory stays on the grid that the Cartea–Jaimungal closed form is solved on.

Reward per step (price units): the change of mark-to-market wealth ``cash + q S``, which is
``delta_b 1{bid filled} + delta_a 1{ask filled} + q' (S' - S)`` with ``q'`` the inventory after
the fills, minus the running penalty ``phi q'^2 dt`` and, on the last step, the terminal penalty
``alpha q'^2``. With ``phi = alpha = 0`` the return is the episode PnL; otherwise it is the
Cartea–Jaimungal criterion ``X_T + q_T (S_T - alpha q_T) - phi int q^2 dt``.

Action: ``(delta_b, delta_a)``, float, in ``[0, max_depth]``. Out-of-range values are clipped,
``NaN`` means "do not quote this side" (depth ``max_depth``), and every step with an invalid
action is counted in ``state.n_invalid_actions``.

Observation (float32, shape (2,)): ``[(T - t) / T, q / max_inventory]``, time to horizon in
``[0, 1]`` and normalised inventory in ``[-1, 1]``.

Money is held relative to the opening price ``S0``, as the OTC market does: the state keeps the
mid's change ``S - S0`` and the cash valued at the opening price, ``X + q S0`` (``X`` the cash
account). Every step adds PnL-scale numbers (a depth, a price move) to them, never a price level,
so the float32 rounding of wealth, PnL and reward does not depend on ``S0``. By the
recursive-summation bound (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, §4.2)
the error of ``wealth = (X + q S0) + q (S - S0)`` after ``n`` steps is at most
``(2 n + 3 |q| + 3) gamma_{2n} (M + F)``, with ``gamma_k = k u / (1 - k u)``, ``u = 2**-24``,
``M`` the sum of the absolute price moves and ``F`` the sum over fills of ``|S - S0 -+ delta|``
(tested at ``S0 = MAX_S0`` against a float64 recomputation of the same fills). Only the absolute
cash ``X = (X + q S0) - q S0`` (``cash(state, params)``) carries a rounding error relative to
``q S0``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core import spaces
from jaxmarket.core.environment import Environment
from jaxmarket.core.validation import check_int, check_range

BID, ASK = 0, 1  # the indices of the two sides in an action and in the fill draws
MAX_S0 = 1e9  # largest opening price: keeps q * S0 and the float32 mid far from overflow


@struct.dataclass
class MarketMakingParams:
    """Model parameters (defaults: Avellaneda & Stoikov 2008). Prices in price units, time in
    units of the horizon's clock."""

    s0: float = 100.0  # initial mid price
    sigma: float = 2.0  # mid volatility per sqrt(time unit)
    horizon: float = 1.0  # T
    max_steps_in_episode: int = 200  # steps per episode; dt = horizon / steps
    intensity: float = 140.0  # A: fill intensity at zero depth, per time unit
    decay: float = 1.5  # k: intensity decay per price unit of depth
    phi: float = 0.0  # running inventory penalty per unit^2 per time unit
    alpha: float = 0.0  # terminal inventory penalty per unit^2
    max_inventory: int = 50  # |q| bound: fills beyond it are not executed
    max_depth: float = 10.0  # largest quoted depth; quoting there means (almost) never filled

    @property
    def dt(self) -> Any:
        """The step length ``horizon / max_steps_in_episode``, in time units."""
        return self.horizon / self.max_steps_in_episode

    def check(self) -> None:
        """Raise ``ValueError`` naming any out-of-range field."""
        check_range("s0", self.s0, 0.0, MAX_S0, low_open=True)
        check_range("sigma", self.sigma, 0.0, low_open=True)
        check_range("horizon", self.horizon, 0.0, low_open=True)
        check_int("max_steps_in_episode", self.max_steps_in_episode, 1)
        check_range("intensity", self.intensity, 0.0, low_open=True)
        check_range("decay", self.decay, 0.0, low_open=True)
        check_range("phi", self.phi, 0.0)
        check_range("alpha", self.alpha, 0.0)
        check_int("max_inventory", self.max_inventory, 1)
        check_range("max_depth", self.max_depth, 0.0, low_open=True)


@struct.dataclass
class MarketMakingState:
    """The state of one episode; money in price units relative to the opening price ``S0``."""

    mid_change: jax.Array  # float32, price units: S - S0
    relative_cash: jax.Array  # float32, price units: X + q S0, the cash valued at the opening price; starts at 0
    inventory: jax.Array  # int32, units, in [-max_inventory, max_inventory]
    time: jax.Array  # int32, steps taken
    pnl: jax.Array  # float32, accumulated mark-to-market PnL (sum of increments)
    penalty: jax.Array  # float32, accumulated inventory penalties
    n_bid_fills: jax.Array  # int32
    n_ask_fills: jax.Array  # int32
    quoted_spread: jax.Array  # float32, sum over steps of delta_b + delta_a
    n_invalid_actions: jax.Array  # int32, steps whose action was non-finite or out of range


def step_noise(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The random draws of one step: uniforms (2,) for the bid and ask fills, a normal for S."""
    fill_key, price_key = jax.random.split(key)
    return jax.random.uniform(fill_key, (2,)), jax.random.normal(price_key)


def sanitize_action(action: Any, params: MarketMakingParams) -> tuple[jax.Array, jax.Array]:
    """Depths (2,) clipped to ``[0, max_depth]`` with NaN as ``max_depth``; and whether the action
    was invalid (non-finite or out of range)."""
    action = jnp.asarray(action, jnp.float32).reshape(2)
    invalid = jnp.any(~jnp.isfinite(action) | (action < 0) | (action > params.max_depth))
    depths = jnp.clip(jnp.where(jnp.isnan(action), params.max_depth, action), 0.0, params.max_depth)
    return depths, invalid


def transition(
    state: MarketMakingState,
    depths: jax.Array,
    noise: tuple[jax.Array, jax.Array],
    params: MarketMakingParams,
) -> tuple[MarketMakingState, jax.Array]:
    """One step given valid depths (2,) and the draws of ``step_noise``; returns (state, reward).

    A bid fill buys at ``S - delta_b``, so ``X + q S0`` changes by ``-(S - S0 - delta_b)``; an ask
    fill sells at ``S + delta_a``: ``+(S - S0 + delta_a)``.
    """
    uniforms, normal = noise
    dt = params.dt
    prob = jnp.clip(params.intensity * jnp.exp(-params.decay * depths) * dt, 0.0, 1.0)
    room = jnp.stack([state.inventory < params.max_inventory, state.inventory > -params.max_inventory])
    filled = (uniforms < prob) & room
    bid, ask = filled[BID].astype(jnp.int32), filled[ASK].astype(jnp.int32)
    inventory = state.inventory + bid - ask
    price_move = params.sigma * jnp.sqrt(dt) * normal
    relative_cash = state.relative_cash - bid * (state.mid_change - depths[BID]) + ask * (state.mid_change + depths[ASK])
    gain = bid * depths[BID] + ask * depths[ASK] + inventory * price_move
    time = state.time + 1
    q2 = jnp.square(inventory.astype(jnp.float32))
    penalty = params.phi * q2 * dt + jnp.where(time >= params.max_steps_in_episode, params.alpha * q2, 0.0)
    new_state = state.replace(
        mid_change=state.mid_change + price_move,
        relative_cash=relative_cash,
        inventory=inventory,
        time=time,
        pnl=state.pnl + gain,
        penalty=state.penalty + penalty,
        n_bid_fills=state.n_bid_fills + bid,
        n_ask_fills=state.n_ask_fills + ask,
        quoted_spread=state.quoted_spread + depths.sum(),
    )
    return new_state, gain - penalty


def mid(state: MarketMakingState, params: MarketMakingParams) -> jax.Array:
    """The mid price ``S`` (float32 price units; rounded to float32's grid at ``S0``)."""
    return params.s0 + state.mid_change


def cash(state: MarketMakingState, params: MarketMakingParams) -> jax.Array:
    """The cash account ``X`` (float32 price units; its rounding error is relative to ``q S0``)."""
    return state.relative_cash - state.inventory * params.s0


def wealth(state: MarketMakingState) -> jax.Array:
    """Mark-to-market wealth ``X + q S = (X + q S0) + q (S - S0)`` (float32 price units), formed
    from PnL-scale terms only."""
    return state.relative_cash + state.inventory * state.mid_change


class MarketMaking(Environment):
    """The Avellaneda–Stoikov (2008) market maker (the module docstring gives the full model).

    - observation: ``jax.Array`` float32, shape ``(2,)``: ``[(T - t) / T, q / max_inventory]``,
      the fraction of the horizon left in ``[0, 1]`` and the normalised inventory in ``[-1, 1]``.
    - action: ``jax.Array`` float32, shape ``(2,)``: the depths ``(delta_b, delta_a)`` in price
      units, Box ``[0, max_depth]``. Out-of-range values are clipped, ``NaN`` means "no quote on
      this side" (depth ``max_depth``), and each step with an invalid action is counted in
      ``state.n_invalid_actions``.
    - reward: ``jax.Array`` float32, shape ``()``, price units: the change of mark-to-market wealth
      ``cash + q S`` minus ``phi q'^2 dt`` and, on the last step, ``alpha q'^2`` (``q'`` the
      inventory after the step's fills). With ``phi = alpha = 0`` the return is the episode PnL,
      otherwise the Cartea–Jaimungal criterion ``X_T + q_T (S_T - alpha q_T) - phi int q^2 dt``.
    - episode end: after ``max_steps_in_episode`` steps, ``terminated`` (the model's horizon T)
      and ``truncated`` (the step limit) are both true.
    - state: ``MarketMakingState``:
        - mid_change: float32, shape ``()``, price units: ``S - S0``.
        - relative_cash: float32, shape ``()``, price units: ``X + q S0``.
        - inventory: int32, shape ``()``, units, in ``[-max_inventory, max_inventory]``.
        - time: int32, shape ``()``, steps taken.
        - pnl: float32, shape ``()``, price units: the summed wealth increments.
        - penalty: float32, shape ``()``, price units: the summed inventory penalties.
        - n_bid_fills, n_ask_fills: int32, shape ``()``: fills per side.
        - quoted_spread: float32, shape ``()``, price units: the summed ``delta_b + delta_a``.
        - n_invalid_actions: int32, shape ``()``: steps with a non-finite or out-of-range action.
    - parameters: ``MarketMakingParams`` (defaults: the Avellaneda–Stoikov 2008 paper's).

    Example:
        env, params = jaxmarket.make("jaxmarket/MarketMaking-AS-v0")
        obs, state = env.reset(key, params)
        obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
    """

    params_class = MarketMakingParams

    @property
    def name(self) -> str:
        return "MarketMaking-AS-v0"

    def reset_env(self, key: jax.Array, params: MarketMakingParams) -> tuple[jax.Array, MarketMakingState]:
        """A fresh episode at ``t = 0``, flat, with the mid at ``S0``.

        Args:
            key: unused (the start is deterministic).
            params: the model.

        Returns:
            ``(obs (2,) float32, state)``.
        """
        del key
        zero_f = jnp.array(0.0, jnp.float32)
        zero_i = jnp.array(0, jnp.int32)
        state = MarketMakingState(
            mid_change=zero_f,
            relative_cash=zero_f,
            inventory=zero_i,
            time=zero_i,
            pnl=zero_f,
            penalty=zero_f,
            n_bid_fills=zero_i,
            n_ask_fills=zero_i,
            quoted_spread=zero_f,
            n_invalid_actions=zero_i,
        )
        return self.get_obs(state, params), state

    def step_env(self, key: jax.Array, state: MarketMakingState, action: Any,
                 params: MarketMakingParams) -> tuple[jax.Array, MarketMakingState, jax.Array, jax.Array, dict]:
        """One step: post the depths, draw the fills and the price move.

        Args:
            key: the step's randomness (``step_noise``).
            state: the current state.
            action: ``(2,)`` depths ``(delta_b, delta_a)``, price units (see the class docstring).
            params: the model.

        Returns:
            ``(obs (2,) float32, state, reward () float32, terminated () bool, info)``; ``info``
            holds ``pnl`` (float32) and ``inventory`` (int32) after the step.
        """
        depths, invalid = sanitize_action(action, params)
        new_state, reward = transition(state, depths, step_noise(key), params)
        new_state = new_state.replace(n_invalid_actions=state.n_invalid_actions + invalid.astype(jnp.int32))
        terminated = new_state.time >= params.max_steps_in_episode
        info = {"pnl": new_state.pnl, "inventory": new_state.inventory}
        return self.get_obs(new_state, params), new_state, reward, terminated, info

    def get_obs(self, state: MarketMakingState, params: MarketMakingParams, key: Any = None) -> jax.Array:
        """``[(T - t) / T, q / max_inventory]``, float32, shape ``(2,)``; ``key`` is unused."""
        steps = params.max_steps_in_episode
        return jnp.stack(
            [
                (steps - state.time) / steps,
                state.inventory / params.max_inventory,
            ]
        ).astype(jnp.float32)

    def action_space(self, params: MarketMakingParams | None = None) -> spaces.Box:
        """The depths: Box ``[0, max_depth]``, shape ``(2,)``, float32 (default params if None)."""
        params = self.default_params if params is None else params
        return spaces.Box(0.0, params.max_depth, (2,), jnp.float32)

    def observation_space(self, params: MarketMakingParams | None = None) -> spaces.Box:
        """Box ``[0, 1] x [-1, 1]``, shape ``(2,)``, float32."""
        low = jnp.array([0.0, -1.0], jnp.float32)
        high = jnp.array([1.0, 1.0], jnp.float32)
        return spaces.Box(low, high, (2,), jnp.float32)

    def episode_metrics(self, state: MarketMakingState, params: MarketMakingParams) -> dict[str, jax.Array]:
        """The end-of-episode metrics of ``jaxmarket.evaluate``: ``pnl``, ``wealth``, ``penalty``
        (price units), ``final_inventory``, ``n_bid_fills``, ``n_ask_fills``, ``mean_spread`` (price
        units per step) and ``n_invalid_actions``, each a scalar."""
        steps = jnp.maximum(state.time, 1)
        return {
            "pnl": state.pnl,
            "wealth": wealth(state),
            "penalty": state.penalty,
            "final_inventory": state.inventory,
            "n_bid_fills": state.n_bid_fills,
            "n_ask_fills": state.n_ask_fills,
            "mean_spread": state.quoted_spread / steps,
            "n_invalid_actions": state.n_invalid_actions,
        }
