"""Market making on ``MarketMaking-AS-v0``: PPO against the Cartea–Jaimungal optimum (``jaxmarket demo``, ``jaxmarket train market-making``)."""
