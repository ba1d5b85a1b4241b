"""Environment API: base class, spaces, registry, evaluation, configuration checks."""

from jaxmarket.core import spaces
from jaxmarket.core.environment import Environment
from jaxmarket.core.evaluate import Policy, evaluate, random_policy, rollout_episode
from jaxmarket.core.registry import make, register, registered

__all__ = ["Environment", "Policy", "evaluate", "make", "random_policy", "register", "registered", "rollout_episode", "spaces"]
