"""Recording whole episodes of a policy in one jitted, vmapped rollout, for datasets and offline RL.

    trajectories = jm.record(env, params, policy, num_episodes=1000, seed=0)
    transitions = jm.to_transitions(trajectories)          # flat (s, a, r, s', terminal) over valid steps

``record`` returns a :class:`Trajectories` pytree with a leading episode axis (numpy arrays), the
layout of Minari's episodes (observations one longer than actions); ``jaxmarket.data.to_minari``
writes it as a Minari dataset. ``to_transitions`` flattens it into the transitions offline learners
sample from; for a multi-agent env, per agent of one family, from one of its turns to the next.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.agents import MultiAgent, adapter
from jaxmarket.core.evaluate import Policy, episode_steps
from jaxmarket.core.keys import seed_key
from jaxmarket.core.sharding import dividing_device_count, env_mesh, gather, split_envs
from jaxmarket.core.validation import check_env_params, check_int

ROLLOUTS_CACHED = 8  # jitted recordings kept (each holds its compiled program)

__all__ = ["Trajectories", "Transitions", "check_policy_output", "record", "to_transitions"]


@struct.dataclass
class Trajectories:
    """Whole episodes, a leading episode axis ``E`` on every leaf; ``T`` is the rollout length.

    For a single-agent env every field is one array; for a ``MultiAgentEnv`` ``observations``,
    ``actions``, ``rewards``, ``terminations``, ``truncations``, ``acting`` and ``types`` are dicts
    keyed by family whose arrays have an agent axis ``n_f`` after the time axis (``types``: after the
    episode axis).

    Attributes:
      observations: ``(E, T + 1, *obs_shape)`` in the observation space's dtype: the observation
        each step acted on, then the one after the last step.
      actions: ``(E, T, *action_shape)``: the actions as the policy returned them (a ``Discrete``
        action int32 ``(E, T)``).
      rewards: float32 ``(E, T)``: the reward of each step.
      terminations: bool ``(E, T)``: the episode terminated at this step.
      truncations: bool ``(E, T)``: the episode was cut at this step (the env's time limit).
      lengths: int32 ``(E,)``: the steps in each episode. Steps ``t >= lengths[e]`` are padding:
        the observations repeat the final one, rewards are 0, terminations and truncations False.
      acting: None for a single-agent env; per family bool ``(E, T, n_f)``, which agents acted at each
        step (their other actions were ignored by the env: Stackelberg turns).
      types: None where the env has no ``agent_types``; else float32 ``(E, k)`` (single-agent) or per
        family ``(E, n_f, k_f)``, each agent's type this episode, its columns the env's ``type_fields``.
      metrics: ``env.episode_metrics`` at the end of each episode, each ``(E, ...)``.
    """

    observations: Any
    actions: Any
    rewards: Any
    terminations: Any
    truncations: Any
    lengths: Any
    acting: Any
    types: Any
    metrics: dict[str, Any]

    @property
    def num_episodes(self) -> int:
        """``E``."""
        return int(np.shape(self.lengths)[0])

    @property
    def num_steps(self) -> int:
        """``T``, the rollout length (the longest episode's steps at most)."""
        return int(np.shape(jax.tree.leaves(self.rewards)[0])[1])

    @property
    def num_transitions(self) -> int:
        """The valid steps over all episodes (``lengths.sum()``), each agent's counted once per family
        for a multi-agent env: steps times agents, acting or not."""
        steps = int(np.sum(self.lengths))
        if isinstance(self.rewards, dict):
            return steps * sum(int(np.shape(r)[2]) for r in self.rewards.values())
        return steps


@struct.dataclass
class Transitions:
    """Flat transitions over the valid steps of a ``Trajectories``, what offline learners sample.

    Attributes:
      obs: ``(N, *obs_shape)``: the observation acted on.
      actions: ``(N, *action_shape)``: the action taken.
      rewards: float32 ``(N,)``: the reward until the next observation (for a multi-agent family,
        summed over the steps up to the agent's next turn).
      next_obs: ``(N, *obs_shape)``: the next observation (the agent's at its next turn).
      terminations: bool ``(N,)``: the episode terminated at this transition (no bootstrap from
        ``next_obs``); a truncation is not a termination.
      episode: int32 ``(N,)``: the episode the transition comes from.
      step: int32 ``(N,)``: the step it starts at.
      agent: int32 ``(N,)``: the agent's index in its family (0 for a single-agent env).
    """

    obs: Any
    actions: Any
    rewards: Any
    next_obs: Any
    terminations: Any
    episode: Any
    step: Any
    agent: Any

    def __len__(self) -> int:
        return int(np.shape(self.rewards)[0])


def _spaces(env: Any, params: Any) -> tuple[Any, Any]:
    """``(observation spaces, action spaces)``: one each, or dicts keyed by family."""
    if isinstance(adapter(env), MultiAgent):
        return ({f: env.observation_space(f, params) for f in env.families},
                {f: env.action_space(f, params) for f in env.families})
    return env.observation_space(params), env.action_space(params)


def check_policy_output(env: Any, params: Any, policy: Policy) -> None:
    """Check, by abstract evaluation (nothing runs), that ``policy`` returns actions of the env's shape.

    Args:
      env: a gymnax-style env or a ``MultiAgentEnv``.
      params: its parameters.
      policy: ``act(key, obs, state, params) -> action``.

    Raises:
      ValueError: the policy's output is not the action space's shape (per family for a
        multi-agent env: a dict with the env's families, each ``(n_agents, *shape)``), naming what it
        returned and what was expected; or a discrete action that is not an integer, or a Box action
        that is not floating point.
    """
    obs, state = jax.eval_shape(env.reset_env, seed_key(0), params)
    out = jax.eval_shape(policy, seed_key(0), obs, state, params)
    _, action_spaces = _spaces(env, params)
    if isinstance(action_spaces, dict):
        if not isinstance(out, dict) or set(out) != set(action_spaces):
            got = sorted(out) if isinstance(out, dict) else type(out).__name__
            raise ValueError(f"policy action: returned {got}, expected a dict with keys {sorted(action_spaces)}")
        for family, space in action_spaces.items():
            _check_action(f"policy action[{family!r}]", out[family], space, (env.num_agents[family],))
    else:
        _check_action("policy action", out, action_spaces, ())


def _check_action(name: str, out: Any, space: Any, batch: tuple[int, ...]) -> None:
    expected = batch + tuple(space.shape)
    if not hasattr(out, "shape") or tuple(out.shape) != expected:
        got = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"{name}: shape {got}, expected {expected} (the action space {space!r})")
    if hasattr(space, "n") and not jnp.issubdtype(out.dtype, jnp.integer):
        raise ValueError(f"{name}: dtype {out.dtype}, expected an integer dtype (a Discrete({int(space.n)}) action)")
    if not hasattr(space, "n") and not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"{name}: dtype {out.dtype}, expected a floating dtype (a Box action)")


def _episode(env: Any, params: Any, policy: Policy, key: jax.Array, num_steps: int) -> dict:
    """One recorded episode of ``num_steps`` steps; after it ends the state is frozen (padding)."""
    agents = adapter(env)
    multi = isinstance(agents, MultiAgent)
    types = getattr(env, "agent_types", None)
    reset_key, key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, params)
    first_state = state

    def step(carry, step_key):
        obs, state, done = carry
        act_key, env_key = jax.random.split(step_key)
        action = policy(act_key, obs, state, params)
        next_obs, next_state, reward, terminated, _ = env.step_env(env_key, state, action, params)
        finished, truncated = agents.done(next_state, terminated, params)
        alive = jnp.logical_not(done)
        live = lambda x: jax.tree.map(lambda v: jnp.where(alive, v, jnp.zeros_like(v)), x)  # noqa: E731
        out = {
            "obs": obs,
            "action": action,
            "reward": live(jax.tree.map(lambda r: r.astype(jnp.float32), reward)),
            "terminated": live(terminated),
            "truncated": live(truncated),
            "alive": alive,
        }
        if multi:
            out["acting"] = env.acting(state)
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
        state = jax.tree.map(keep, state, next_state)
        obs = jax.tree.map(keep, obs, next_obs)
        return (obs, state, done | finished), out

    (last_obs, last_state, _), out = jax.lax.scan(step, (obs, state, jnp.array(False)), jax.random.split(key, num_steps))
    observations = jax.tree.map(lambda seq, last: jnp.concatenate([seq, last[None]], axis=0), out["obs"], last_obs)
    return {
        "observations": observations,
        "actions": out["action"],
        "rewards": out["reward"],
        "terminations": out["terminated"],
        "truncations": out["truncated"],
        "lengths": out["alive"].sum(dtype=jnp.int32),
        "acting": out.get("acting"),
        "types": None if types is None else types(first_state, params),
        "metrics": env.episode_metrics(last_state, params),
    }


@functools.lru_cache(maxsize=ROLLOUTS_CACHED)
def _rollout(env: Any, policy: Policy, num_episodes: int, num_steps: int, mesh: Any) -> Callable:
    """The jitted recording of ``num_episodes`` episodes, kept per (env, policy, sizes, mesh) so that a
    recording in chunks of one size compiles once."""

    @jax.jit
    def run(key: jax.Array, params: Any) -> dict:
        keys = split_envs(jax.random.split(key, num_episodes), mesh)
        return split_envs(jax.vmap(lambda k: _episode(env, params, policy, k, num_steps))(keys), mesh)

    return run


def record(
    env: Any,
    params: Any,
    policy: Policy,
    num_episodes: int,
    seed: int = 0,
    num_steps: int | None = None,
    devices: int | None = None,
) -> Trajectories:
    """Record ``num_episodes`` whole episodes of ``policy`` in one jitted, vmapped rollout.

    Episode ``i`` draws from the ``i``-th key split from the seed's key (as ``jaxmarket.evaluate``),
    so the recording is bitwise the same on any number of devices and its returns equal
    ``evaluate``'s for the same policy, seed and episode count. The compiled rollout is kept for the
    last ``ROLLOUTS_CACHED`` (env, policy, sizes, devices) combinations: recording in chunks of one
    size with the same policy object compiles once.

    Args:
      env: a gymnax-style env or a ``MultiAgentEnv``.
      params: its parameters (checked before compiling).
      policy: ``act(key, obs, state, params) -> action`` (see ``jaxmarket.Policy``).
      num_episodes: ``E``, in ``[1, INT32_MAX]``.
      seed: the PRNG seed in ``[0, MAX_SEED]``.
      num_steps: ``T``, the rollout length; defaults to one episode (``episode_steps``). Episodes
        that end sooner are padded (``Trajectories.lengths``); longer ones are cut (not truncated).
      devices: devices the episodes are split across (as ``jaxmarket.evaluate``).

    Returns:
      The ``Trajectories``, numpy arrays (see its docstring for the shapes).

    Raises:
      ValueError: invalid ``params``, ``num_episodes``, ``num_steps``, ``seed`` or ``devices``, or a
        policy whose actions do not have the action space's shape (``check_policy_output``), all
        before anything is compiled.
    """
    check_env_params(env, params)
    check_int("num_episodes", num_episodes, 1)
    num_steps = episode_steps(env, params) if num_steps is None else num_steps
    check_int("num_steps", num_steps, 1)
    key = seed_key(seed)
    check_policy_output(env, params, policy)
    count = dividing_device_count(num_episodes) if devices is None else devices
    mesh = env_mesh(count, num_episodes, envs_field="num_episodes")
    return Trajectories(**gather(_rollout(env, policy, num_episodes, num_steps, mesh)(key, params)))


def _single_agent_transitions(t: Trajectories) -> Transitions:
    steps = np.arange(t.num_steps)
    valid = steps[None, :] < np.asarray(t.lengths)[:, None]  # (E, T)
    episode, step = np.nonzero(valid)
    obs = np.asarray(t.observations)
    return Transitions(
        obs=obs[episode, step],
        actions=np.asarray(t.actions)[episode, step],
        rewards=np.asarray(t.rewards, np.float32)[episode, step],
        next_obs=obs[episode, step + 1],
        terminations=np.asarray(t.terminations)[episode, step],
        episode=episode.astype(np.int32),
        step=step.astype(np.int32),
        agent=np.zeros(len(episode), np.int32),
    )


def _family_transitions(t: Trajectories, family: str) -> Transitions:
    obs = np.asarray(t.observations[family])  # (E, T + 1, n, ...)
    actions = np.asarray(t.actions[family])  # (E, T, n, ...)
    rewards = np.asarray(t.rewards[family], np.float32)  # (E, T, n)
    terminations = np.asarray(t.terminations[family])
    acting = np.asarray(t.acting[family])  # (E, T, n)
    lengths = np.asarray(t.lengths)
    num_episodes, num_steps, n = rewards.shape
    valid = np.arange(num_steps)[None, :, None] < lengths[:, None, None]
    turns = acting & valid
    # each turn's reward: the rewards from the turn up to (not including) the agent's next turn
    cumulative = np.concatenate([np.zeros((num_episodes, 1, n), np.float32), np.cumsum(rewards, axis=1)], axis=1)
    episode, step, agent = np.nonzero(turns)  # sorted by episode, then step, then agent
    order = np.lexsort((step, agent, episode))  # by episode, then agent, then step
    episode, step, agent = episode[order], step[order], agent[order]
    same = np.r_[(episode[1:] == episode[:-1]) & (agent[1:] == agent[:-1]), False]
    next_step = np.where(same, np.r_[step[1:], 0], lengths[episode])  # the agent's next turn or the episode's end
    ended = terminations[episode, np.maximum(lengths[episode] - 1, 0), agent]
    return Transitions(
        obs=obs[episode, step, agent],
        actions=actions[episode, step, agent],
        rewards=(cumulative[episode, next_step, agent] - cumulative[episode, step, agent]).astype(np.float32),
        next_obs=obs[episode, next_step, agent],
        terminations=np.where(same, False, ended),
        episode=episode.astype(np.int32),
        step=step.astype(np.int32),
        agent=agent.astype(np.int32),
    )


def to_transitions(trajectories: Trajectories, family: str | None = None) -> Transitions:
    """Flatten recorded episodes into transitions (numpy, outside ``jit``: the count depends on the data).

    Single-agent: one transition per valid step ``t < lengths[e]``, ``next_obs`` the observation
    after it. Multi-agent: the transitions of every agent of ``family``, one per turn the agent
    acted (``acting``), ``next_obs`` its observation at its next turn (or the episode's final one)
    and ``rewards`` the sum of its rewards from the turn up to the next one (Stackelberg turns:
    rewards arrive at settlement, after the other family's turn). Ordered by episode, then agent,
    then step.

    Args:
      trajectories: from ``record`` or ``jaxmarket.data.from_minari``.
      family: the family whose agents' transitions are wanted; required for a multi-agent
        recording, None otherwise.

    Returns:
      The ``Transitions`` (numpy arrays).

    Raises:
      ValueError: ``family`` missing or unknown for a multi-agent recording, or given for a
        single-agent one; or the recording has no valid step.
    """
    if isinstance(trajectories.rewards, dict):
        families = sorted(trajectories.rewards)
        if family not in trajectories.rewards:
            raise ValueError(f"family = {family!r}: a multi-agent recording needs one of {families}")
        out = _family_transitions(trajectories, family)
    else:
        if family is not None:
            raise ValueError(f"family = {family!r}: a single-agent recording has no families (give None)")
        out = _single_agent_transitions(trajectories)
    if len(out) == 0:
        raise ValueError("trajectories: no valid step (every length is 0, or no agent of the family ever acted)")
    return out
