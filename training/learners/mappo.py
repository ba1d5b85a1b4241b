"""Shared-policy multi-agent PPO: one actor-critic per agent family, all families learning at once.

    trainer = make_trainer(MAPPOConfig(...), env, env_params, fixed={"lt": some_policy})
    result = jax.jit(trainer.train)(key)        # the whole run in one jit; vmappable over keys
    result = jax.jit(trainer.train)(key, batch)  # env i under its own parameters batch[i]
    runner, rows = loop.run(trainer, key, ...)  # jitted chunks, progress, log.csv, checkpoints

For a ``MultiAgentEnv`` (``jaxmarket.core.multi_agent``). Each family's agents share one network;
the agent axis is a batch axis (an agent's type is part of its observation, so one policy covers
the family's range of types). A family is either learned (``config.learn``) or played by a fixed
policy given to ``make_trainer`` (a heuristic stand-in); families with no agents are skipped.

The learner's time step is one *round*: the env's ``turn_order`` phases in sequence, each family
acting in its own phase on the observation it has then (in a Stackelberg round the followers see
the leaders' new quotes). A family's reward for its action is the sum of its rewards over the
round's env steps, so the env must pay a round's rewards within the round (``OTC-v0`` pays them on
its last phase) and end episodes at round boundaries.

Per family: observations are normalised by running statistics and rewards scaled by the running
standard deviation of the discounted return; GAE runs per agent; minibatches are whole env
trajectories (all agents of an env together); each family has its own optimiser and loss. At the
end of a rollout, a family that acts after phase 0 is bootstrapped with the value of its phase-0
observation of the next round (which shows the previous round's quotes).

The env parameters are part of the ``RunnerState``, a batch with a leading ``(num_envs,)`` axis
(``runner.env_params``): env ``i`` runs under ``env_params[i]``. ``init(key, env_params)`` takes
such a batch (default: ``make_trainer``'s parameters for every env), and replacing
``runner.env_params`` between updates changes the markets the agents learn on without
recompiling (``training.learners.calibration`` does). The parameters' pytree structure, and the
fields that shape the spaces (an action ``Box``'s bounds), are those given to ``make_trainer``.
With ``episode_metrics=True`` the runner also keeps, per env, the metrics of its last finished
episode (the env's ``info["metrics"]`` at its last step).

The env axis is split across ``config.devices`` devices as in ``training.learners.ppo``: the env
states, observations, per-env parameters and metrics and each family's running returns are sharded
(``place_runner``), the networks, optimisers and statistics replicated.

Warm starts: ``make_trainer(..., warm_start={"lp": ppo.WarmStart(...)})`` starts a learned family
from a policy instead of a fresh network, e.g. one behaviour-cloned from the family's turns of a
recording (``training.learners.bc`` with ``family=``, loaded by
``training.learners.warm_start.load_family_warm_start``). With ``config.warm_kl_coef > 0`` the KL
divergence from that policy is added to the family's loss, as in single-agent PPO.

    warm = {"lp": load_family_warm_start("runs/bc_lp/final", config, env, env_params, "lp")}
    trainer = make_trainer(config, env, env_params, fixed={"lt": some_policy}, warm_start=warm)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState
from jax.sharding import Mesh

from jaxmarket.core.multi_agent import MultiAgentEnv, episode_done
from jaxmarket.core.sharding import split_envs
from jaxmarket.core.validation import check_choice, check_env_params, check_range
from jaxmarket.core.vec_env import VecEnv, per_env
from training.learners import storage
from training.learners.losses import LOSS_METRICS, ppo_loss, warm_start_kl
from training.learners.networks import ActorCritic, space_action_map, space_network
from training.learners.normalize import RunningStats
from training.learners.ppo import (
    Hyperparameters, Transition, WarmStart, advantages, chunk_and_train, chunk_summary, check_warm_start,
    initial_policy, mean_episode_return, observe, optimizer, place, policy_actions, ppo_epochs, track_returns,
)

FixedPolicy = Callable[[jax.Array, jax.Array, Any], jax.Array]
"""``act(key, obs (n_agents, d), params) -> actions (n_agents, ...)`` for one env: a family played
by a fixed (non-learning) policy."""


@dataclasses.dataclass(frozen=True)
class MAPPOConfig(Hyperparameters):
    """Multi-agent PPO hyperparameters, shared by the learned families (the common ones are
    ``training.learners.ppo.Hyperparameters``). A batch is ``num_envs * num_rounds`` env rounds per update,
    each one decision of every agent."""

    ROLLOUT_FIELD: ClassVar[str] = "num_rounds"
    TOTAL_FIELD: ClassVar[str] = "total_rounds"

    learn: tuple[str, ...] = ("lp", "lt")
    """Families trained, distinct names of the env's families; the others need a fixed policy."""
    num_envs: int = 256
    """Parallel envs per rollout, >= 1 and a multiple of num_minibatches."""
    num_minibatches: int = 4
    """Minibatches per epoch, each of whole env trajectories; >= 1 and divides num_envs."""
    num_rounds: int = 32
    """Rollout length per env per update, in env rounds; >= 1."""
    total_rounds: int = 2_000_000
    """Env rounds over the whole run (all envs); >= num_envs * num_rounds."""
    warm_kl_coef: float = 0.0
    """With a warm start: weight of KL(warm policy || policy), averaged over the minibatch's
    observations, added to a warm-started family's loss (keeps its policy near the one it started
    from while the critic catches up); >= 0, 0: none. Ignored for families without a warm start."""

    def check_learner(self) -> None:
        """Check ``learn`` and ``warm_kl_coef``.

        Raises:
            ValueError: ``learn`` is not a tuple of distinct names, or ``warm_kl_coef`` is negative
                or not finite.
        """
        if not isinstance(self.learn, tuple) or len(set(self.learn)) != len(self.learn):
            raise ValueError(f"learn = {self.learn!r} must be a tuple of distinct family names")
        check_range("warm_kl_coef", self.warm_kl_coef, 0.0)


@struct.dataclass
class FamilyState:
    """One learned family's network, optimiser and normalisers."""

    ENV_FIELDS: ClassVar[tuple[str, ...]] = ("discounted_return", "episode_return")

    train_state: TrainState  # network parameters and optimiser state
    obs_stats: RunningStats  # of the raw observations, (d,)
    return_stats: RunningStats  # of the discounted return, for reward scaling, ()
    discounted_return: jax.Array  # (num_envs, n_agents)
    episode_return: jax.Array  # (num_envs, n_agents), unscaled


@struct.dataclass
class RunnerState:
    """Everything that evolves during training."""

    ENV_FIELDS: ClassVar[tuple[str, ...]] = ("env_state", "obs", "env_params", "episode_metrics")

    families: dict[str, FamilyState]  # learned families only
    env_state: Any
    obs: dict[str, jax.Array]  # family -> (num_envs, n_agents, d), at the start of a round
    key: jax.Array
    update: jax.Array  # int32, updates done
    env_params: Any  # the env parameters, every leaf with a leading (num_envs,) axis
    episode_metrics: Any = None  # with episode_metrics=True: {name: (num_envs, ...)} of each env's last finished episode


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The jittable pieces of one multi-agent run: ``init``, ``update``, ``chunk`` and ``train``."""

    config: MAPPOConfig
    env: MultiAgentEnv
    env_params: Any
    learned: tuple[str, ...]  # learned families with agents, in ``env.families`` order
    fixed: dict[str, FixedPolicy]
    networks: dict[str, ActorCritic]
    to_env: dict[str, Callable[[jax.Array], jax.Array]]
    init: Callable[..., RunnerState]
    rollout: Callable[[RunnerState], tuple[RunnerState, dict[str, Transition]]]
    update: Callable[[RunnerState], tuple[RunnerState, dict]]
    chunk: Callable[[RunnerState], tuple[RunnerState, dict]]
    train: Callable[..., dict]
    mesh: Mesh  # the devices the env axis is split over
    tracks_metrics: bool = False  # built with episode_metrics=True: RunnerState.episode_metrics is kept

    step_unit = "agent_steps"

    @property
    def steps_per_update(self) -> int:
        """Agent-steps per update: env rounds times the learned agents acting in each."""
        return self.config.batch_size * self.agents_per_round

    def save(self, path: str | Path, runner: RunnerState, metadata: dict[str, Any], update: int) -> None:
        """Checkpoint every learned family's network and observation statistics.

        Args:
            path: the checkpoint directory (created; an existing checkpoint is replaced).
            runner: the run's state.
            metadata: what rebuilds the env and the fixed policies (stored with the config and
                ``update``).
            update: the updates done.
        """
        state = {f: storage.policy_tree(fam.train_state.params, fam.obs_stats) for f, fam in runner.families.items()}
        storage.write(path, state, {"config": dataclasses.asdict(self.config), **metadata, "update": update})

    def restore(self, path: str | Path) -> tuple[dict[str, Any], dict[str, RunningStats]]:
        """The trained parameters of a checkpoint written by ``save``.

        Args:
            path: the checkpoint directory.

        Returns:
            ``(network parameters, observation statistics)``, each a dict over the learned families.
        """
        template = {
            f: storage.policy_template(self.networks[f].init(jax.random.key(0), jnp.zeros(self.obs_shape(f))),
                                       self.obs_shape(f))
            for f in self.learned
        }
        state = storage.read(path, template)
        parts = {f: storage.policy_from_tree(state[f]) for f in self.learned}
        return {f: parts[f][0] for f in self.learned}, {f: parts[f][1] for f in self.learned}

    def obs_shape(self, family: str) -> tuple[int, ...]:
        """The shape of one agent's observation in ``family``."""
        return self.env.observation_space(family, self.env_params).shape

    @property
    def agents_per_round(self) -> int:
        """Decisions per env round by learned agents (the unit of agent-steps)."""
        return sum(self.env.num_agents[f] for f in self.learned)

    def summary(self, metrics: dict[str, Any]) -> dict[str, float]:
        """Means over a chunk's updates that ran: each family's loss terms and its per-agent episode
        return (over updates in which episodes ended)."""
        losses = tuple(f"{f}_{name}" for f in self.learned for name in LOSS_METRICS)
        return chunk_summary(metrics, losses, tuple(f"{f}_episode_return" for f in self.learned))

    @property
    def log_fields(self) -> tuple[str, ...]:
        """The log columns: per learned family, its episode return and ``LOSS_METRICS``."""
        return tuple(f"{f}_{name}" for f in self.learned for name in ("episode_return", *LOSS_METRICS))


def place_runner(runner: RunnerState, mesh: Mesh) -> RunnerState:
    """The runner's env-axis fields (``RunnerState.ENV_FIELDS`` and each family's
    ``FamilyState.ENV_FIELDS``) split over ``mesh``, everything else replicated (``ppo.place``).

    Args:
        runner: the multi-agent runner.
        mesh: the env mesh.

    Returns:
        ``runner`` under sharding constraints; unchanged on one device.
    """
    if mesh.size == 1:
        return runner
    families = {f: place(fam, mesh, FamilyState.ENV_FIELDS) for f, fam in runner.families.items()}
    return place(runner.replace(families={}), mesh, RunnerState.ENV_FIELDS).replace(families=families)


def zero_action(space: Any, n_agents: int, num_envs: int) -> jax.Array:
    """A placeholder action batch (num_envs, n_agents, ...) for a family outside its phase."""
    sample = space.sample(jax.random.key(0))
    return jnp.zeros((num_envs, n_agents) + sample.shape, sample.dtype)


def check_families(config: MAPPOConfig, env: MultiAgentEnv, fixed: dict[str, FixedPolicy]) -> tuple[str, ...]:
    """Check that each family with agents has exactly one role.

    Args:
        config: ``learn`` is read.
        env: the multi-agent env.
        fixed: the fixed policies by family.

    Returns:
        The learned families that have agents, in ``env.families`` order.

    Raises:
        ValueError: a family name that is not the env's, a family both learned and fixed, a family
            with agents that has no role, or no learned family with agents.
    """
    for family in (*config.learn, *fixed):
        check_choice("family", family, env.families)
    both = sorted(set(config.learn) & set(fixed))
    if both:
        raise ValueError(f"family {both[0]!r} is both learned (learn) and fixed: give it one role")
    present = [f for f in env.families if env.num_agents[f] > 0]
    missing = [f for f in present if f not in config.learn and f not in fixed]
    if missing:
        raise ValueError(f"family {missing[0]!r} has agents but is neither learned (learn) nor given a fixed policy")
    learned = tuple(f for f in present if f in config.learn)
    if not learned:
        raise ValueError(f"learn = {config.learn!r}: no learned family has agents (num_agents = {env.num_agents})")
    return learned


def _init_fn(config: MAPPOConfig, venv: VecEnv, env_params: Any, learned: tuple[str, ...],
             networks: dict[str, ActorCritic], tx: optax.GradientTransformation, track_metrics: bool,
             warm_start: dict[str, WarmStart]) -> Callable[..., RunnerState]:
    """``init(key, env_params=None)``: per learned family a fresh (or its warm start's) network and
    statistics and a fresh optimiser; reset envs under ``env_params`` (a batch with a leading
    num_envs axis; None: ``env_params`` given to ``make_trainer``, for every env)."""
    env, n_envs = venv.env, config.num_envs
    obs_dims = {f: env.observation_space(f, env_params).shape for f in env.families}

    def init(key: jax.Array, batch: Any = None) -> RunnerState:
        batch = per_env(env_params, n_envs) if batch is None else batch
        net_key, reset_key, key = jax.random.split(key, 3)
        net_keys = dict(zip(learned, jax.random.split(net_key, len(learned))))
        families = {}
        for f in learned:
            params, obs_stats, return_stats = initial_policy(networks[f], net_keys[f], obs_dims[f], warm_start.get(f))
            zeros = jnp.zeros((n_envs, env.num_agents[f]), jnp.float32)
            families[f] = FamilyState(
                TrainState.create(apply_fn=networks[f].apply, params=params, tx=tx),
                obs_stats, return_stats, zeros, zeros,
            )
        obs, env_state = venv.reset(reset_key, batch)
        metrics = None
        if track_metrics:  # zeros shaped like the env's episode metrics, until an episode ends
            shapes = jax.eval_shape(jax.vmap(env.episode_metrics), env_state, batch)
            metrics = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        runner = RunnerState(families, env_state, obs, key, jnp.array(0, jnp.int32), batch, metrics)
        return place_runner(runner, venv.mesh)

    return init


def _round_step_fn(config: MAPPOConfig, venv: VecEnv, env_params: Any, learned: tuple[str, ...],
                   fixed: dict[str, FixedPolicy], networks: dict[str, ActorCritic],
                   to_env: dict[str, Callable]
                   ) -> Callable[[RunnerState, Any], tuple[RunnerState, dict[str, Transition]]]:
    """``round_step(runner, _)``: one round of every env (a scan body)."""
    env, n_envs, n_agents = venv.env, config.num_envs, venv.env.num_agents
    placeholders = {f: zero_action(env.action_space(f, env_params), n_agents[f], n_envs) for f in env.families}

    def round_step(runner: RunnerState, _: Any) -> tuple[RunnerState, dict[str, Transition]]:
        """One round: every phase in turn, each family acting on its observation at its phase."""
        key, *phase_keys = jax.random.split(runner.key, 1 + 2 * len(env.turn_order))
        obs, env_state, episode_metrics = runner.obs, runner.env_state, runner.episode_metrics
        taken: dict[str, tuple] = {}
        rewards = {f: jnp.zeros((n_envs, n_agents[f]), jnp.float32) for f in env.families}
        done = jnp.zeros((n_envs,), bool)
        for phase, acting in enumerate(env.turn_order):
            act_key, step_key = phase_keys[2 * phase], phase_keys[2 * phase + 1]
            actions = dict(placeholders)
            for f, f_key in zip(acting, jax.random.split(act_key, len(acting))):
                if n_agents[f] == 0:
                    continue
                if f in learned:
                    norm = observe(config, runner.families[f].obs_stats, obs[f])
                    dist, value = networks[f].apply(runner.families[f].train_state.params, norm)
                    u = dist.sample(seed=f_key)
                    taken[f] = (norm, obs[f], u, dist.log_prob(u), value)
                    actions[f] = to_env[f](u)
                else:
                    keys = split_envs(jax.random.split(f_key, n_envs), venv.mesh)
                    actions[f] = jax.vmap(fixed[f])(keys, obs[f], runner.env_params)
            obs, env_state, reward, terminated, _, info = venv.step(step_key, env_state, actions, runner.env_params)
            rewards = {f: rewards[f] + reward[f].astype(jnp.float32) for f in env.families}
            ended = episode_done(terminated)  # (num_envs,): ended at this step
            done = done | ended
            if runner.episode_metrics is not None:
                episode_metrics = jax.tree.map(
                    lambda new, old: jnp.where(ended.reshape((-1,) + (1,) * (old.ndim - 1)), new, old),
                    info["metrics"], episode_metrics)
        families, transitions = {}, {}
        for f in learned:
            fam = runner.families[f]
            done_f = jnp.broadcast_to(done[:, None], rewards[f].shape)
            scaled, episode_return, return_stats, discounted, running_return = track_returns(
                config, fam.return_stats, fam.discounted_return, fam.episode_return, rewards[f], done_f
            )
            transitions[f] = Transition(*taken[f], scaled, done_f, episode_return)
            families[f] = fam.replace(discounted_return=discounted, episode_return=running_return,
                                      return_stats=return_stats)
        runner = runner.replace(families=families, env_state=env_state, obs=obs, key=key, episode_metrics=episode_metrics)
        return runner, transitions

    return round_step


def family_loss_fn(config: MAPPOConfig, network: ActorCritic, warm_params: Any = None
                   ) -> Callable[[Any, tuple], tuple[jax.Array, dict[str, jax.Array]]]:
    """One learned family's minibatch loss: PPO's clipped loss (``losses.ppo_loss``), plus
    ``config.warm_kl_coef`` times KL(warm policy || policy) averaged over the minibatch's
    observations when ``warm_params`` is given and ``warm_kl_coef > 0``.

    Args:
        config: ``clip_eps``, ``vf_coef``, ``ent_coef`` and ``warm_kl_coef`` are read.
        network: the family's actor-critic.
        warm_params: the parameters of the family's warm start (``WarmStart.net_params``), or None.

    Returns:
        ``loss_fn(params, minibatch) -> (loss, parts)``: ``minibatch`` is ``(obs (B, d) float32
        normalised, action (B,) int or (B, action_dim) float32, old log_prob (B,), old value (B,),
        advantages (B,), value targets (B,))``, any leading batch shape ``B``; ``loss`` a float32
        scalar, ``parts`` the scalar ``LOSS_METRICS`` (without the KL term).
    """
    anchored = warm_params is not None and config.warm_kl_coef > 0

    def loss_fn(params: Any, mb: tuple) -> tuple[jax.Array, dict[str, jax.Array]]:
        loss, info = ppo_loss(network, params, *mb, config.clip_eps, config.vf_coef, config.ent_coef)
        if anchored:
            loss = loss + config.warm_kl_coef * warm_start_kl(network, params, warm_params, mb[0])
        return loss, info

    return loss_fn


def _update_family_fn(config: MAPPOConfig, networks: dict[str, ActorCritic], mesh: Mesh,
                      warm_start: dict[str, WarmStart]) -> Callable:
    """``update_family(f, fam, traj, last_obs, key) -> (fam, metrics)``: GAE and the PPO epochs of
    one learned family over its rollout ``traj`` (rounds, envs, agents, ...), with the KL to the
    family's warm start in the loss (``family_loss_fn``)."""
    n_envs = config.num_envs
    loss_fns = {f: family_loss_fn(config, network, warm_start[f].net_params if f in warm_start else None)
                for f, network in networks.items()}

    def update_family(f: str, fam: FamilyState, traj: Transition, last_obs: jax.Array,
                      key: jax.Array) -> tuple[FamilyState, dict[str, jax.Array]]:
        adv, targets, obs_stats = advantages(networks[f], config, fam.train_state.params, fam.obs_stats, traj,
                                             last_obs)
        fam = fam.replace(obs_stats=obs_stats)

        # (rounds, envs, agents, ...) -> (envs, rounds * agents, ...): minibatches of whole envs
        def by_env(x):
            x = jnp.swapaxes(x, 0, 1)
            return x.reshape((n_envs, -1) + x.shape[3:])

        batch = jax.tree.map(by_env, (traj.obs, traj.action, traj.log_prob, traj.value, adv, targets))
        train_state, info = ppo_epochs(fam.train_state, batch, loss_fns[f], key, config, mesh)
        metrics = {f"{f}_{name}": value.mean() for name, value in info.items()}
        metrics[f"{f}_episode_return"] = mean_episode_return(traj.done, traj.episode_return)
        return fam.replace(train_state=train_state), metrics

    return update_family


def _update_fn(learned: tuple[str, ...], rollout: Callable, update_family: Callable, mesh: Mesh
               ) -> Callable[[RunnerState], tuple[RunnerState, dict]]:
    """``update(runner)``: a rollout, then every learned family's update."""

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        runner, traj = rollout(runner)
        key, *family_keys = jax.random.split(runner.key, 1 + len(learned))
        families, metrics = {}, {}
        for f, f_key in zip(learned, family_keys):
            families[f], family_metrics = update_family(f, runner.families[f], traj[f], runner.obs[f], f_key)
            metrics.update(family_metrics)
        metrics["episodes"] = traj[learned[0]].done[:, :, 0].sum()
        metrics["ran"] = jnp.array(1, jnp.int32)
        return place_runner(runner.replace(families=families, key=key, update=runner.update + 1), mesh), metrics

    return update


def _reports_metrics(env: MultiAgentEnv, env_params: Any) -> bool:
    """Whether ``env.step_env`` puts a non-empty ``info["metrics"]`` (shapes only, nothing runs)."""

    def probe(key: jax.Array) -> Any:
        reset_key, step_key = jax.random.split(key)
        _, state = env.reset_env(reset_key, env_params)
        actions = {f: zero_action(env.action_space(f, env_params), env.num_agents[f], 1)[0] for f in env.families}
        return env.step_env(step_key, state, actions, env_params)[-1]

    info = jax.eval_shape(probe, jax.random.key(0))
    return isinstance(info, dict) and bool(info.get("metrics"))


def family_network(config: Hyperparameters, env: MultiAgentEnv, env_params: Any, family: str) -> ActorCritic:
    """The actor-critic a family's agents share (``space_network`` of its action space).

    Args:
        config: ``hidden_sizes``, ``activation`` and ``init_log_std`` are read.
        env: the multi-agent env.
        env_params: its parameters.
        family: one of ``env.families``.

    Returns:
        The ``ActorCritic``.

    Raises:
        ValueError: ``family`` is not one of the env's, or its action space is neither Discrete nor Box.
    """
    check_choice("family", family, env.families)
    return space_network(env.action_space(family, env_params), config.hidden_sizes, config.activation,
                         config.init_log_std)


def check_family_warm_starts(warm_start: dict[str, WarmStart], learned: tuple[str, ...], env: MultiAgentEnv,
                             env_params: Any, networks: dict[str, ActorCritic]) -> None:
    """Check each family's warm start against the family's network (``ppo.check_warm_start``).

    Args:
        warm_start: warm starts by family.
        learned: the learned families with agents.
        env: the multi-agent env.
        env_params: its parameters.
        networks: the learned families' networks.

    Raises:
        ValueError: a warm start for a family that is not learned (or not the env's, or without
            agents), naming it and the learned ones; or parameters or statistics that do not fit
            the family's network and observation shape (``check_warm_start``'s message, after the family).
    """
    for family, warm in warm_start.items():
        if family not in learned:
            raise ValueError(f"warm_start: family {family!r} is not learned; warm starts are for the learned families "
                             f"{list(learned)}")
        try:
            check_warm_start(warm, networks[family], env.observation_space(family, env_params).shape)
        except ValueError as error:
            raise ValueError(f"family {family!r}: {error}") from None


def make_trainer(
    config: MAPPOConfig, env: MultiAgentEnv, env_params: Any, fixed: dict[str, FixedPolicy] | None = None,
    episode_metrics: bool = False, warm_start: dict[str, WarmStart] | None = None,
) -> Trainer:
    """Check the configuration, the env parameters and the family roles, then build the jittable
    training functions.

    Args:
        config: the hyperparameters; ``config.learn`` names the learned families.
        env: a ``MultiAgentEnv`` whose episodes end at round boundaries and which pays a round's
            rewards within the round.
        env_params: its parameters.
        fixed: a ``FixedPolicy`` for each family with agents that is not learned.
        episode_metrics: keep each env's last finished episode's metrics in the runner
            (``RunnerState.episode_metrics``); the env must have ``episode_metrics(state, params)``
            and put them in ``info["metrics"]``.
        warm_start: per learned family, the network parameters, observation statistics ``(d,)`` and
            optionally return statistics ``()`` to start from (``ppo.WarmStart``, checked against the
            family's network; ``training.learners.warm_start.load_family_warm_start`` reads one from
            a policy checkpoint); with ``config.warm_kl_coef > 0`` the KL divergence from that policy
            is added to the family's loss. Families not in it start fresh; None: all do.

    Returns:
        The ``Trainer``: ``jax.jit(trainer.train)(key)`` (or ``(key, env_params_batch)``, see
        ``init``) runs ``config.num_updates`` updates of ``config.batch_size`` env rounds and
        returns ``{"runner": RunnerState, "metrics": {name: (num_updates,)}}`` (per learned family ``<f>_episode_return`` and ``<f>_<loss part>``;
        ``episodes``, ``ran``).

    Raises:
        ValueError: an invalid config field, an env that is not a ``MultiAgentEnv``, invalid env
            parameters, a family role error (``check_families``), an unsupported action space,
            ``squash_actions`` with an unbounded Box, ``devices`` more than there are or not
            dividing ``num_envs``, or a warm start for a family that is not learned or that does not
            fit its network (``check_family_warm_starts``, naming the family); all before anything
            is compiled.
    """
    config.check()
    mesh = config.mesh()
    if not isinstance(env, MultiAgentEnv):
        raise ValueError(f"env = {env!r} is not a MultiAgentEnv: use training.learners.ppo for single-agent envs")
    check_env_params(env, env_params)
    fixed = dict(fixed or {})
    learned = check_families(config, env, fixed)
    if episode_metrics and not (callable(getattr(env, "episode_metrics", None)) and _reports_metrics(env, env_params)):
        raise ValueError(f"episode_metrics = True: env {type(env).__name__}'s step puts no episode metrics in "
                         "info['metrics']")
    venv = VecEnv(env, config.num_envs, per_env_params=True, devices=mesh.size)
    action_spaces = {f: env.action_space(f, env_params) for f in env.families}
    networks = {f: family_network(config, env, env_params, f) for f in learned}
    warm_start = dict(warm_start or {})
    check_family_warm_starts(warm_start, learned, env, env_params, networks)
    to_env = {f: space_action_map(action_spaces[f], config.squash_actions) for f in learned}
    tx = optimizer(config, config.num_updates)
    round_step = _round_step_fn(config, venv, env_params, learned, fixed, networks, to_env)

    def rollout(runner: RunnerState) -> tuple[RunnerState, dict[str, Transition]]:
        """``num_rounds`` rounds of every env: per learned family, transitions (rounds, envs, agents, ...)."""
        return jax.lax.scan(round_step, runner, None, config.num_rounds)

    init = _init_fn(config, venv, env_params, learned, networks, tx, episode_metrics, warm_start)
    update = _update_fn(learned, rollout, _update_family_fn(config, networks, mesh, warm_start), mesh)
    chunk, train = chunk_and_train(init, update, config.num_updates, config.updates_per_chunk)
    return Trainer(config, env, env_params, learned, fixed, networks, to_env, init, rollout, update, chunk, train,
                   mesh, episode_metrics)


def family_actions(trainer: Trainer, family: str, net_params: Any, obs_stats: RunningStats, obs: jax.Array,
                   key: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
    """A learned family's env actions for raw observations.

    Args:
        trainer: the run's trainer.
        family: a learned family.
        net_params: its network parameters.
        obs_stats: its observation statistics.
        obs: ``(..., d)`` raw observations.
        key: the sampling key; unused (may be None) if ``deterministic``.
        deterministic: take the mode of its policy (squashed for Box actions) instead of a sample.

    Returns:
        ``(..., action_dim)`` float32 (Box) or ``(...)`` int (Discrete) env actions.
    """
    return policy_actions(trainer.networks[family], trainer.to_env[family], trainer.config, net_params, obs_stats, obs,
                          key, deterministic)


def make_policy(
    trainer: Trainer, net_params: dict[str, Any], obs_stats: dict[str, RunningStats], deterministic: bool = True
) -> Callable:
    """A joint policy for ``jaxmarket.evaluate``: each learned family's network, the fixed policies
    for the others, zero actions for families without agents.

    Args:
        trainer: the run's trainer.
        net_params: network parameters by learned family.
        obs_stats: observation statistics by learned family.
        deterministic: learned families act with their Gaussian mean (squashed) or most likely
            action instead of a sample.

    Returns:
        ``act(key, obs {family: (n_agents, d)}, state, params) -> {family: (n_agents, ...)}``.
    """
    env = trainer.env

    def act(key: jax.Array, obs: dict, state: Any, params: Any) -> dict:
        del state
        keys = dict(zip(env.families, jax.random.split(key, len(env.families))))
        actions = {}
        for f in env.families:
            if f in trainer.learned:
                actions[f] = family_actions(trainer, f, net_params[f], obs_stats[f], obs[f], keys[f], deterministic)
            elif f in trainer.fixed:
                actions[f] = trainer.fixed[f](keys[f], obs[f], params)
            else:  # a family without agents
                actions[f] = zero_action(env.action_space(f, params), env.num_agents[f], 1)[0]
        return actions

    return act


def family_params(runner: RunnerState) -> tuple[dict[str, Any], dict[str, RunningStats]]:
    """The trained parameters of a run.

    Args:
        runner: the run's state.

    Returns:
        ``(network parameters, observation statistics)``, each a dict over the learned families.
    """
    return ({f: fam.train_state.params for f, fam in runner.families.items()},
            {f: fam.obs_stats for f, fam in runner.families.items()})


def trained_policy(trainer: Trainer, runner: RunnerState, deterministic: bool = True) -> Callable:
    """The joint policy of a finished run (``make_policy``).

    Args:
        trainer: the run's trainer.
        runner: its final ``RunnerState`` (``train(key)["runner"]`` or ``loop.run``'s).
        deterministic: learned families act with their policy's mode instead of a sample.

    Returns:
        ``act(key, obs, state, params) -> {family: actions}`` for ``jaxmarket.evaluate``.
    """
    return make_policy(trainer, *family_params(runner), deterministic)
