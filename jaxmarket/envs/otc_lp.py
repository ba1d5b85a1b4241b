"""``jaxmarket/OTC-LP-v0``: one learning LP among heuristic LPs and flow clients (gymnax API).

The OTC market of ``jaxmarket.otc`` with ``n_lps`` dealers, of which dealer 0 is the agent and
the others quote by curve pricing and hedge as risk-averse hedgers
(``jaxmarket.otc.dealer``), and ``n_flow`` flow clients; there are no RL clients. One env
step is one round. Every LP, the agent included, draws its type from ``lp_supertype`` each
episode; the agent observes its own type.

Action: float32 (n_tiers + 2,): spread multiplier per tier, skew, hedge fraction (as in OTC-v0).
Observation: the LP observation of ``jaxmarket.otc.observations`` (features, then type).
Reward: the LP reward of ``jaxmarket.otc.rewards`` for the agent's type, in bp-units.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core import spaces
from jaxmarket.core.environment import Environment
from jaxmarket.core.validation import check_range
from jaxmarket.envs.otc import lp_action_space, split_config
from jaxmarket.otc import dealer, market, observations
from jaxmarket.otc.market import LP_TYPE_FIELDS, OTCParams, OTCState
from jaxmarket.otc.metrics import PER_LP_METRICS, episode_metrics

AGENT = 0  # the learning LP's index


@struct.dataclass
class OTCLPParams(OTCParams):
    """``OTCParams`` plus the settings of the heuristic LPs (see ``jaxmarket.otc.dealer``).

    Attributes:
      curve_alpha: the curve-pricing exponent, >= 0.
      ref_size: units, the size at which curve pricing is exact, > 0.
      hedge_scale: ``k`` of the risk-averse hedge fraction, >= 0.
      skew_coef: skew per unit of ``inventory / inventory_scale``, >= 0.
    """

    curve_alpha: float = dealer.CURVE_ALPHA
    ref_size: float = dealer.REF_SIZE
    hedge_scale: float = dealer.HEDGE_SCALE
    skew_coef: float = dealer.SKEW_COEF

    @property
    def max_steps_in_episode(self) -> Any:
        return self.n_rounds

    def check(self) -> None:
        super().check()
        check_range("curve_alpha", self.curve_alpha, 0.0)
        check_range("ref_size", self.ref_size, 0.0, low_open=True)
        check_range("hedge_scale", self.hedge_scale, 0.0)
        check_range("skew_coef", self.skew_coef, 0.0)


class OTCLP(Environment):
    """One learning LP in the OTC market, ``jaxmarket/OTC-LP-v0`` (see the module docstring).

    LP 0 is the agent; LPs ``1 .. n_lps - 1`` play ``jaxmarket.otc.dealer.heuristic_lp_actions``
    with the ``curve_alpha``, ``ref_size``, ``hedge_scale`` and ``skew_coef`` of ``OTCLPParams``;
    every client is a flow client (``n_lts = 0``). One step is one round.

    - observation: float32 (8 + 5,): the LP observation of ``jaxmarket.otc.observations``
      (``LP_FEATURES``, then the agent's type ``LP_TYPE_FIELDS``).
    - action: float32 (n_tiers + 2,): spread multiplier per tier in ``[eps_min, eps_max]``, skew in
      ``[-skew_max, skew_max]``, hedge fraction in ``[0, 1]``; out-of-range entries are clipped; a
      non-finite entry is replaced by its own safe value (a multiplier by ``eps_max``, the skew by 0,
      the hedge fraction by 0), each counted in ``n_invalid_lp``.
    - reward: float32 scalar, the agent's LP reward in bp-units (``jaxmarket.otc.rewards``).
    - done: bool scalar, True after ``n_rounds`` rounds (never truncated).
    - info: ``"inventory"`` (units) and ``"share"`` (of last round's client volume) of the agent.
    - state: ``jaxmarket.otc.market.OTCState``.

    Args:
      n_lps: number of LPs, the agent included, >= 1.
      n_flow: number of flow clients, >= 1.
      n_tiers: number of client tiers, >= 1.
      reference: ``"gbm"`` or ``"replay"``.
      **param_overrides: ``OTCLPParams`` fields.

    Raises:
      ValueError: an invalid configuration or parameter, naming the field, value and valid range.
    """

    params_class = OTCLPParams

    def __init__(self, n_lps: int = 4, n_flow: int = 16, n_tiers: int = 3, reference: str = "gbm", **param_overrides: Any):
        self.config, param_overrides = split_config(n_lps, 0, n_flow, n_tiers, market.STACKELBERG, reference, param_overrides)
        super().__init__(**param_overrides)

    @property
    def name(self) -> str:
        return "OTC-LP-v0"

    @property
    def num_actions(self) -> int:
        return self.config.n_tiers + market.LP_ACTION_EXTRA

    def check_params(self, params: OTCLPParams) -> None:
        market.check_params_for(self.config, params)

    def get_obs(self, state: OTCState, params: OTCLPParams, key: Any = None) -> jax.Array:
        return observations.lp_observation(state, self.config, params)[AGENT]

    def reset_env(self, key: jax.Array, params: OTCLPParams):
        state = market.reset(key, self.config, params)
        return self.get_obs(state, params), state

    def step_env(self, key: jax.Array, state: OTCState, action: Any, params: OTCLPParams):
        config = self.config
        lp_obs = observations.lp_observation(state, config, params)
        others = dealer.heuristic_lp_actions(
            lp_obs, config, params, params.curve_alpha, params.ref_size, params.hedge_scale, params.skew_coef
        )
        action = jnp.asarray(action, jnp.float32).reshape(1, self.num_actions)
        actions = jnp.concatenate([action, others[AGENT + 1 :]], axis=0)
        state = market.quote(state, actions, config, params)
        state, lp_r, _, _ = market.settle(key, state, config, params)
        done = state.round >= params.n_rounds
        info = {"inventory": state.lp_inventory[AGENT], "share": state.lp_last_share[AGENT]}
        return self.get_obs(state, params), state, lp_r[AGENT], done, info

    def is_truncated(self, state: OTCState, params: OTCLPParams) -> jax.Array:
        """Episodes end by termination after ``n_rounds`` rounds, never by truncation."""
        return jnp.array(False)

    def action_space(self, params: OTCLPParams | None = None) -> spaces.Box:
        return lp_action_space(self.config, self.default_params if params is None else params)

    def observation_space(self, params: OTCLPParams | None = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (observations.lp_obs_size(),), jnp.float32)

    def episode_metrics(self, state: OTCState, params: OTCLPParams) -> dict[str, jax.Array]:
        metrics = episode_metrics(state, params)
        agent = {name: metrics[name][AGENT] for name in PER_LP_METRICS}
        return {**metrics, **agent, "pnl": agent["lp_pnl"]}

    type_fields = LP_TYPE_FIELDS
    """The names of the columns of ``agent_types``."""

    def agent_types(self, state: OTCState, params: OTCLPParams) -> jax.Array:
        """The agent's type this episode (drawn from ``lp_supertype`` at reset).

        Returns:
          float32 ``(len(LP_TYPE_FIELDS),)``, the columns ``type_fields``.
        """
        del params
        return state.lp_types[AGENT]
