"""Observation and action spaces: gymnax's jittable spaces, re-exported so envs import one place."""

from gymnax.environments.spaces import Box, Dict, Discrete, Space, Tuple

__all__ = ["Box", "Dict", "Discrete", "Space", "Tuple"]
