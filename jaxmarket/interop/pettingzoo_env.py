"""A jaxmarket multi-agent env (``OTC-v0``, any ``MultiAgentEnv``) as a PettingZoo ``ParallelEnv``.

    from jaxmarket.interop import to_pettingzoo
    env = to_pettingzoo("jaxmarket/OTC-v0")            # or to_pettingzoo(*jm.make("jaxmarket/OTC-v0", n_lps=2))
    obs, infos = env.reset(seed=0)                     # obs["lp_0"]: (13,), obs["lt_3"]: (24,)
    actions = {a: env.action_space(a).sample() for a in env.acting_agents}
    obs, rewards, terminations, truncations, infos = env.step(actions)

Agents are named ``f"{family}_{index}"`` (``lp_0``, ..., ``lt_3``), families in the env's order.
Every agent gets an observation, reward and info every step; only the agents of the current phase
of the env's turn order act (``acting_agents``, and ``infos[agent]["acting"]`` for the next step).
Their actions are required; the other agents may be left out of the action dict (PettingZoo's
parallel API allows it), and their actions, if given, are checked and ignored, as the JAX env
ignores them. When the episode ends every agent is terminated together, ``agents`` empties, and
each agent's info carries ``"episode_metrics"`` (the env's ``info["metrics"]`` on that step, the
episode's metrics read before the reset). Keys: as ``jaxmarket.interop.GymnasiumEnv``
(``key, sub = jax.random.split(key)`` per reset and step, through the env's own ``step``), so the
adapter returns bitwise what the JAX env returns for the same seed and actions.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium
import jax
import numpy as np
from pettingzoo import ParallelEnv

from jaxmarket.core.keys import seed_key
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.interop.gymnasium_env import checked_seed, first_seed, resolve
from jaxmarket.interop.spaces import check_action, to_gymnasium_space, zero_action


METRICS_INFO = "metrics"  # the env.step info entry holding the episode's metrics so far (OTC-v0's)


def agent_name(family: str, index: int) -> str:
    """The PettingZoo name of agent ``index`` of ``family``: ``f"{family}_{index}"``."""
    return f"{family}_{index}"


def check_multi_agent(env: Any) -> None:
    """Raise ``ValueError`` unless ``env`` is a jaxmarket ``MultiAgentEnv``."""
    if not isinstance(env, MultiAgentEnv):
        raise ValueError(f"env = {type(env).__name__} is not a jaxmarket MultiAgentEnv: use "
                         "jaxmarket.interop.to_gymnasium for a single-agent env")


class PettingZooEnv(ParallelEnv):
    """A jaxmarket ``MultiAgentEnv`` behind PettingZoo's ``ParallelEnv`` API (see the module docstring).

    Per agent (``family`` its family): ``observation_space(agent)`` and ``action_space(agent)`` are
    the env's ``observation_space(family)`` and ``action_space(family)`` converted to gymnasium
    spaces, one object per agent. ``step`` returns dicts over ``possible_agents`` of numpy
    observations, Python float rewards, bool terminations and truncations (the jaxmarket
    multi-agent envs never truncate) and infos ``{"acting": bool}`` (plus ``"episode_metrics"`` at
    the episode's end, for an env whose ``step`` info holds ``"metrics"`` as ``OTC-v0``'s does).

    Args:
      env: a jaxmarket ``MultiAgentEnv``, or a registered id of one.
      params: its parameters; ``default_params`` if None.

    Raises:
      ValueError: a single-agent env, an unregistered id, or invalid ``params``.
    """

    metadata = {"name": "jaxmarket_parallel_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, env: Any, params: Any = None) -> None:
        env, params = resolve(env, params)
        check_multi_agent(env)
        self.env = env
        self.params = env.checked_params(params)
        self.render_mode = None
        self.members = {f: [agent_name(f, i) for i in range(env.num_agents[f])] for f in env.families}
        self.possible_agents = [a for f in env.families for a in self.members[f]]
        self.agents: list[str] = []
        self._family = {a: f for f, names in self.members.items() for a in names}
        self._observation_spaces = self._per_agent(lambda f: to_gymnasium_space(env.observation_space(f, self.params)))
        self._action_spaces = self._per_agent(lambda f: to_gymnasium_space(env.action_space(f, self.params)))
        zeros = {f: zero_action(to_gymnasium_space(env.action_space(f, self.params))) for f in env.families}
        self._no_actions = {f: np.zeros((0, *z.shape), z.dtype) for f, z in zeros.items()}  # a family without agents
        self._key: jax.Array | None = None
        self._state: Any = None
        self._acting: dict[str, bool] = {}
        self._np_random: np.random.Generator | None = None

    def _per_agent(self, family_space: Any) -> dict[str, gymnasium.spaces.Space]:
        spaces = {f: family_space(f) for f in self.env.families}
        return {a: copy.deepcopy(spaces[f]) for a, f in self._family.items()}

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        """The space of ``agent``'s observation (the same object on every call).

        Raises:
          ValueError: an agent not in ``possible_agents``.
        """
        return self._observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        """The space of ``agent``'s action (the same object on every call).

        Raises:
          ValueError: an agent not in ``possible_agents``.
        """
        return self._action_spaces[self._check_agent(agent)]

    def _check_agent(self, agent: str) -> str:
        if agent not in self._family:
            raise ValueError(f"agent = {agent!r} is not one of possible_agents {self.possible_agents}")
        return agent

    @property
    def acting_agents(self) -> list[str]:
        """The live agents that act in the current phase (their actions are required)."""
        return [a for a in self.agents if self._acting[a]]

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def _split(self, per_family: Any) -> dict[str, Any]:
        """Per-family arrays with a leading agent axis as per-agent values."""
        return {a: per_family[f][i] for f, names in self.members.items() for i, a in enumerate(names)}

    def _observe(self, obs: dict[str, np.ndarray], state: Any) -> tuple[dict, dict]:
        self._acting = {a: bool(v) for a, v in self._split(jax.device_get(self.env.acting(state))).items()}
        return self._split(obs), {a: {"acting": self._acting[a]} for a in self.possible_agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Start an episode.

        Args:
          seed: an integer in ``[0, 2**32 - 1]`` restarting the key at ``jax.random.key(seed)``;
            None continues it.
          options: accepted for the API; the envs take none.

        Returns:
          ``(observations, infos)`` keyed by agent; every agent is live.

        Raises:
          ValueError: a seed that is not an integer in that range.
        """
        del options
        if seed is not None:
            seed, self._key = checked_seed(seed)
            self._np_random, _ = gymnasium.utils.seeding.np_random(seed)
        if self._key is None:
            self._np_random = self._np_random or gymnasium.utils.seeding.np_random()[0]
            self._key = seed_key(first_seed(self._np_random))
        obs, state = self.env.reset(self._next_key(), self.params)
        self._state = state
        self.agents = list(self.possible_agents)
        return self._observe(jax.device_get(obs), state)

    def _family_actions(self, actions: dict[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(actions, dict):
            raise ValueError(f"actions is a {type(actions).__name__}: expected a dict keyed by agent name")
        unknown = sorted(set(actions) - set(self.possible_agents))
        if unknown:
            raise ValueError(f"actions has agents {unknown} that are not in possible_agents {self.possible_agents}")
        missing = [a for a in self.acting_agents if a not in actions]
        if missing:
            raise ValueError(f"actions lacks agents {missing}: the agents acting this phase are {self.acting_agents}")
        checked = {a: check_action(f"actions[{a!r}]", actions[a], self._action_spaces[a])
                   if a in actions else zero_action(self._action_spaces[a]) for a in self.possible_agents}
        return {f: np.stack([checked[a] for a in names]) if names else self._no_actions[f]
                for f, names in self.members.items()}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """One phase of the env's turn order.

        Args:
          actions: per agent, an element of ``action_space(agent)``; every agent of
            ``acting_agents`` must be present, the others may be left out.

        Returns:
          ``(observations, rewards, terminations, truncations, infos)`` keyed by agent.

        Raises:
          ValueError: not a dict, an unknown agent, an acting agent missing, or an action of the
            wrong shape or dtype (naming the expected ones).
          gymnasium.error.ResetNeeded: ``step`` before ``reset``, or after the episode ended.
        """
        family_actions = self._family_actions(actions)
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(), and again after an episode ends")
        _, state, rewards, terminated, truncated, info = self.env.step(self._next_key(), self._state, family_actions,
                                                                       self.params)
        obs, rewards, terminated, truncated = jax.device_get((info["final_observation"], rewards, terminated, truncated))
        observations, infos = self._observe(obs, state)
        terminations = {a: bool(v) for a, v in self._split(terminated).items()}
        truncations = {a: bool(v) for a, v in self._split(truncated).items()}
        if any(terminations.values()) or any(truncations.values()):
            self._state, self.agents = None, []
            self._acting = dict.fromkeys(self.possible_agents, False)
            infos = {a: {**agent_info, "acting": False} for a, agent_info in infos.items()}
            if METRICS_INFO in info:
                metrics = jax.device_get(info[METRICS_INFO])
                infos = {a: {**agent_info, "episode_metrics": metrics} for a, agent_info in infos.items()}
        else:
            self._state = state
        return observations, {a: float(r) for a, r in self._split(rewards).items()}, terminations, truncations, infos


def to_pettingzoo(env: Any, params: Any = None) -> PettingZooEnv:
    """A jaxmarket multi-agent env as a PettingZoo ``ParallelEnv`` (``PettingZooEnv``).

    Args:
      env: an env from ``jm.make`` (e.g. ``"jaxmarket/OTC-v0"``), or a registered id.
      params: its parameters; ``default_params`` if None.

    Raises:
      ValueError: as ``PettingZooEnv``.
    """
    return PettingZooEnv(env, params)
