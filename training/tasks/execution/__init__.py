"""Optimal execution on ``Execution-v0``: PPO against TWAP, always-market and always-passive (``jaxmarket train execution``)."""
