"""``jaxmarket experiment NAME``: one OTC experiment per subcommand, each with its own config
class (``ExperimentConfig`` and, for ``clients``, ``--schedule-checkpoint``)."""

from __future__ import annotations

from training.tasks.otc.experiments import clients, incentives, risk_aversion, skew, versus_heuristic
from training.tasks.registry import register

for _module, _config in ((skew, skew.SkewConfig), (risk_aversion, risk_aversion.RiskAversionConfig),
                         (incentives, incentives.IncentivesConfig), (clients, clients.ClientsConfig),
                         (versus_heuristic, versus_heuristic.VersusHeuristicConfig)):
    register(("experiment", _module.__name__.rsplit(".", 1)[-1]), _config, _module.run,
             (_config.__doc__ or "").splitlines()[0])
