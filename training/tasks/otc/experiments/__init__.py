"""One experiment per learned behaviour of the OTC market; each writes a PNG and a markdown table.

    jaxmarket experiment skew --checkpoint runs/otc/final     # jaxmarket experiment --help lists them

- ``skew``: LPs skew their quotes against their inventory, across the type range.
- ``risk_aversion``: a more risk-averse LP hedges a larger fraction and skews more.
- ``incentives``: lowering omega (weight on market share) tightens spreads, raises share, lowers PnL.
- ``clients``: a PnL-only client trades with an LP only when its quote beats the ECN; a
  schedule-only client meets its execution target.
- ``versus_heuristic``: the learned LPs beat the heuristic dealers on their own reward.
"""

EXPERIMENTS = ("skew", "risk_aversion", "incentives", "clients", "versus_heuristic")
