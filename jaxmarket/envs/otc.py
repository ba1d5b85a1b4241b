"""``jaxmarket/OTC-v0``: the multi-agent OTC dealer market (see ``jaxmarket.otc``).

Families: ``"lp"`` (``n_lps`` dealers) and ``"lt"`` (``n_lts`` RL clients); ``n_flow`` flow clients
trade exogenously. One round is ``len(turn_order)`` env steps (Stackelberg by default: the LPs
quote and fix their hedge, then the RL clients, having seen this round's quotes from the LPs they
are connected to, choose). Actions of a family outside its phase are ignored (``env.acting``).
The round settles on its last phase: that step carries both families' rewards (zero on other
steps), so a learner credits a family's last action with the rewards up to its next one.

Actions, per agent (a family's array has a leading agent axis):
  lp: float32 (n_tiers + 2,): spread multiplier per tier in [eps_min, eps_max], skew in
      [-skew_max, skew_max], hedge fraction in [0, 1]; out-of-range values are clipped; a
      non-finite entry is replaced by its own safe value (a multiplier by eps_max, the skew by 0,
      the hedge fraction by 0); both are counted as invalid.
  lt: int code in [0, 2 n_lps + 3): 0 no trade; 1 + 2j + s trade with LP j; 1 + 2 n_lps + s on
      the ECN (s = 0 buy, 1 sell). Out-of-range codes or unconnected LPs mean no trade (counted).
Observations: ``jaxmarket.otc.observations``. Rewards: ``jaxmarket.otc.rewards`` (bp-units; a
client's schedule term is in units of the base currency).
``info["settled"]`` says whether the step settled a round; ``info["trades"]`` then holds the
round's trades (``jaxmarket.otc.market.settle``: venue, side, size, hedge, share...);
``info["metrics"]`` the episode's metrics so far (``jaxmarket.otc.metrics.episode_metrics``), at an
episode's last step its final ones (read before any auto-reset: a learner collects them there).

    env, params = jm.make("jaxmarket/OTC-v0", n_lps=4, n_lts=16)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core import spaces
from jaxmarket.core.multi_agent import MultiAgentEnv, TurnOrder
from jaxmarket.otc import market, observations
from jaxmarket.otc.market import LP_TYPE_FIELDS, LT_TYPE_FIELDS, STACKELBERG, OTCConfig, OTCParams, OTCState
from jaxmarket.otc.metrics import episode_metrics


def replay_series() -> np.ndarray:
    """The bundled hourly EUR/USD 2017 closes (float32), the default replay series."""
    from jaxmarket.data import eurusd_hourly

    return eurusd_hourly().prices.astype(np.float32)


def split_config(
    n_lps: int, n_lts: int, n_flow: int, n_tiers: int, turn_order: TurnOrder, reference: str, overrides: dict
) -> tuple[OTCConfig, dict]:
    """The static config, and the parameter overrides with the bundled series for replay."""
    config = OTCConfig(n_lps=n_lps, n_lts=n_lts, n_flow=n_flow, n_tiers=n_tiers, turn_order=turn_order, reference=reference)
    if reference == "replay" and overrides.get("series") is None:
        overrides = {**overrides, "series": replay_series()}
    return config, overrides


def lp_action_space(config: OTCConfig, params: OTCParams) -> spaces.Box:
    """One LP's action: spread multiplier per tier, skew, hedge fraction.

    Returns:
      A float32 ``Box`` of shape (n_tiers + 2,) with bounds ``[eps_min, eps_max]`` per tier,
      ``[-skew_max, skew_max]`` and ``[0, 1]``.
    """
    k = config.n_tiers
    low = jnp.array([params.eps_min] * k + [-params.skew_max, market.HEDGE_MIN], jnp.float32)
    high = jnp.array([params.eps_max] * k + [params.skew_max, market.HEDGE_MAX], jnp.float32)
    return spaces.Box(low, high, (k + market.LP_ACTION_EXTRA,), jnp.float32)


class OTC(MultiAgentEnv):
    """The OTC dealer market as a multi-agent env, ``jaxmarket/OTC-v0`` (see the module docstring).

    Families: ``"lp"`` (``n_lps`` dealers) and ``"lt"`` (``n_lts`` RL clients only; the ``n_flow``
    flow clients are part of the market, not agents). Every array below is a family's, with a
    leading agent axis.

    - observation: dict keyed by family.
        - ``"lp"``: float32 (n_lps, 8 + 5): ``observations.LP_FEATURES`` (inventory /
          inventory_scale, rounds left / n_rounds, ECN half-spread S_ref(0) in bp, last log
          return in bp, units bought from and sold to it last round, its last share of client
          volume, its connected fraction), then the LP's type ``LP_TYPE_FIELDS``.
        - ``"lt"``: float32 (n_lts, 5 + 3 n_lps + 7): ``observations.LT_FEATURES`` (inventory /
          inventory_scale, rounds left / n_rounds, schedule gap in units, tier, ECN cost at its size
          in bp), per LP ``LT_QUOTE_FEATURES`` (connected, buy and sell cost in bp; 0 when not
          connected), then the client's type ``LT_TYPE_FIELDS``.
    - action: dict keyed by family.
        - ``"lp"``: float32 (n_lps, n_tiers + 2): spread multiplier per tier in ``[eps_min,
          eps_max]``, skew in ``[-skew_max, skew_max]``, hedge fraction in ``[0, 1]``.
        - ``"lt"``: int (n_lts,) codes in ``[0, 2 n_lps + 3)``: 0 no trade, ``1 + 2j + s`` LP ``j``,
          ``1 + 2 n_lps + s`` the ECN (``s`` = 0 buy, 1 sell).
    - reward: dict keyed by family, float32 (n_lps,) and (n_lts,), in bp-units of the opening
      price, except a client's schedule term, in units of the base currency
      (``jaxmarket.otc.rewards``); non-zero only on the step that settles a round.
    - terminated: dict keyed by family, bool (n_agents,), True after ``n_rounds`` rounds.
    - state: ``jaxmarket.otc.market.OTCState`` (``lp_*`` per LP, ``client_*`` per client, RL and
      flow, ``lt_*`` per RL client; see its docstring).

    Args:
      n_lps: number of LPs, >= 1.
      n_lts: number of RL clients, >= 0.
      n_flow: number of flow clients, >= 0 (``n_lts + n_flow >= 1``).
      n_tiers: number of client tiers, >= 1.
      turn_order: ``STACKELBERG`` (LPs, then RL clients: two steps a round) or ``SIMULTANEOUS``.
      reference: ``"gbm"`` or ``"replay"`` (the bundled EUR/USD series unless ``series`` is given).
      **param_overrides: ``OTCParams`` fields.

    Raises:
      ValueError: an invalid configuration or parameter, naming the field, value and valid range.
    """

    params_class = OTCParams
    families = market.FAMILIES

    def __init__(
        self,
        n_lps: int = 4,
        n_lts: int = 4,
        n_flow: int = 12,
        n_tiers: int = 3,
        turn_order: TurnOrder = STACKELBERG,
        reference: str = "gbm",
        **param_overrides: Any,
    ) -> None:
        self.config, param_overrides = split_config(n_lps, n_lts, n_flow, n_tiers, turn_order, reference, param_overrides)
        self.turn_order = self.config.turn_order
        self.num_agents = {"lp": n_lps, "lt": n_lts}
        super().__init__(**param_overrides)

    @property
    def name(self) -> str:
        return "OTC-v0"

    def check_params(self, params: OTCParams) -> None:
        market.check_params_for(self.config, params)

    def episode_length(self, params: OTCParams) -> int:
        """Env steps per episode: rounds times phases."""
        return int(params.n_rounds) * self.config.n_phases

    def phase(self, state: OTCState) -> jax.Array:
        return state.phase

    def observe(self, state: OTCState, params: OTCParams) -> dict[str, jax.Array]:
        return {
            "lp": observations.lp_observation(state, self.config, params),
            "lt": observations.lt_observation(state, self.config, params),
        }

    def reset_env(self, key: jax.Array, params: OTCParams) -> tuple[dict[str, jax.Array], OTCState]:
        state = market.reset(key, self.config, params)
        return self.observe(state, params), state

    def step_env(self, key: jax.Array, state: OTCState, actions: dict[str, Any], params: OTCParams):
        if not isinstance(actions, dict) or set(actions) != set(self.families):
            keys = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
            raise ValueError(f"actions has keys {keys}: need a dict with keys {list(self.families)}")
        config = self.config
        lp_acts, lt_acts = self.family_acts("lp", state), self.family_acts("lt", state)
        pick = lambda flag, new, old: jax.tree.map(lambda a, b: jax.lax.select(flag, a, b), new, old)  # noqa: E731
        state = pick(lp_acts, market.quote(state, actions["lp"], config, params), state)
        state = pick(lt_acts, market.choose(state, actions["lt"], config), state)
        is_last = state.phase == config.n_phases - 1
        settled, lp_r, lt_r, trades = market.settle(key, state, config, params)
        state = pick(is_last, settled, state.replace(phase=state.phase + 1))
        rewards = {"lp": jnp.where(is_last, lp_r, 0.0), "lt": jnp.where(is_last, lt_r, 0.0)}
        done = is_last & (state.round >= params.n_rounds)
        terminated = {f: jnp.broadcast_to(done, (self.num_agents[f],)) for f in self.families}
        info = {"settled": is_last, "trades": trades, "metrics": episode_metrics(state, params)}
        return self.observe(state, params), state, rewards, terminated, info

    def action_space(self, family: str, params: OTCParams | None = None) -> spaces.Space:
        """The space of one agent's action in ``family``."""
        params = self.default_params if params is None else params
        if family == "lp":
            return lp_action_space(self.config, params)
        if family == "lt":
            return spaces.Discrete(self.config.n_lt_actions)
        raise ValueError(f"family = {family!r} is not valid: choose one of {self.families}")

    def observation_space(self, family: str, params: OTCParams | None = None) -> spaces.Box:
        """The space of one agent's observation in ``family``."""
        if family == "lp":
            size = observations.lp_obs_size()
        elif family == "lt":
            size = observations.lt_obs_size(self.config)
        else:
            raise ValueError(f"family = {family!r} is not valid: choose one of {self.families}")
        return spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

    def episode_metrics(self, state: OTCState, params: OTCParams) -> dict[str, jax.Array]:
        return episode_metrics(state, params)

    type_fields = {"lp": LP_TYPE_FIELDS, "lt": LT_TYPE_FIELDS}
    """The names of the columns of ``agent_types``, per family."""

    def agent_types(self, state: OTCState, params: OTCParams) -> dict[str, jax.Array]:
        """The episode's agent types (drawn from the supertypes at reset), per family.

        Returns:
          ``{"lp": (n_lps, len(LP_TYPE_FIELDS)), "lt": (n_lts, len(LT_TYPE_FIELDS))}`` float32; the
          columns are ``type_fields[family]``.
        """
        del params
        return {"lp": state.lp_types, "lt": state.client_types[: self.config.n_lts]}
