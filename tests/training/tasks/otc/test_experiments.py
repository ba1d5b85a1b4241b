"""The learned OTC behaviours, each claim in the direction the multi-agent OTC studies report, on small CPU runs
of the experiments (``training.tasks.otc.experiments``): one market trained for the LP claims, one for the
clients. Run with ``--dist loadgroup`` so each market trains once."""

import functools

import numpy as np
import pytest

from training.tasks.otc.experiments import clients, incentives, risk_aversion, skew, versus_heuristic
from training.cli import parse
from training.tasks.otc.experiments.common import train_market

LP_ROUNDS = 1_500_000  # env rounds of the small LP run (the experiments' preset trains 4M)
CLIENT_ROUNDS = 1_500_000
SCHEDULE_ROUNDS = 1_000_000
INCENTIVE_EPISODES = 256  # the PnL of a share-seeking LP is noisy: 64 episodes leave 2 s.e. near 35 bp-units
EPISODES = 64
SEED = 1
MARKET = pytest.mark.xdist_group("otc_market")


def test_an_experiment_takes_its_config_from_flags():
    config = parse(["experiment", "clients", "--checkpoint", "a", "--schedule-checkpoint", "b", "--episodes", "8"])
    assert isinstance(config, clients.ClientsConfig)
    assert (config.checkpoint, config.schedule_checkpoint, config.episodes, config.out) == ("a", "b", 8, "runs/experiments")
    with pytest.raises(SystemExit) as error:  # only the clients experiment has a schedule population
        parse(["experiment", "skew", "--schedule-checkpoint", "b"])
    assert error.value.code == 2


# Each market is trained once per worker process: pytest-xdist may tear a module-scoped fixture down
# between two tests of its group (when a worker's queue runs dry) and set it up again, so the trained
# markets are cached here rather than by the fixture's scope.
@functools.cache
def _lp_market():
    return train_market(LP_ROUNDS, seed=0, progress=False, num_envs=256)


@functools.cache
def _client_market():
    return train_market(CLIENT_ROUNDS, seed=0, progress=False, num_envs=256, preset=clients.PRESET,
                        roles={"lp": clients.LP_ROLE})


@functools.cache
def _schedule_market():
    return train_market(SCHEDULE_ROUNDS, seed=0, progress=False, num_envs=256, preset=clients.SCHEDULE_PRESET,
                        roles={"lp": clients.LP_ROLE})


@pytest.fixture
def market():
    return _lp_market()


@pytest.fixture
def client_market():
    return _client_market()


@pytest.fixture
def schedule_market():
    return _schedule_market()


@MARKET
def test_claim1_lp_skews_against_inventory(market):
    m = skew.measure(market, EPISODES, SEED)
    assert (m["slope"] < 0).all(), m["slope"]  # every risk aversion: a long LP lowers its prices
    assert m["curves"][:, 0].min() > 0 > m["curves"][:, -1].max()
    assert m["corr"] < -0.3 and m["opposes"] > 0.8 and m["scored"] > 100


@MARKET
def test_claim2_risk_aversion_raises_hedging(market):
    m = risk_aversion.measure(market, EPISODES, SEED)
    assert m["hedge"][-1] > m["hedge"][0] + 0.1, m["hedge"]
    assert np.all(np.diff(m["hedge"]) > -0.02), m["hedge"]
    assert m["hedge_ratio"][-1] > m["hedge_ratio"][0], m["hedge_ratio"]
    assert m["abs_inventory"][-1] < m["abs_inventory"][0], m["abs_inventory"]


@MARKET
def test_claim3_market_share_weight_tightens_spreads(market):
    m = incentives.measure(market, INCENTIVE_EPISODES, SEED)
    assert m["spread_bp"][0] < m["spread_bp"][-1], m["spread_bp"]
    assert m["share"][0] > m["share"][-1] + 2 * (m["share_se"][0] + m["share_se"][-1]), m["share"]
    assert m["pnl"][0] < m["pnl"][-1] - 2 * (m["pnl_se"][0] + m["pnl_se"][-1]), m["pnl"]


@MARKET
def test_claim5_learned_lps_beat_heuristic_dealers(market):
    m = versus_heuristic.measure(market, EPISODES, SEED)
    assert m["diff"].mean() > 3 * m["diff_se"], (m["diff"].mean(), m["diff_se"])


@pytest.mark.xdist_group("otc_clients")
def test_claim4_pnl_clients_take_only_better_quotes_and_schedule_clients_execute(client_market, schedule_market):
    m = clients.measure(client_market, schedule_market, EPISODES, SEED)
    pnl_only, schedule_only = m["pnl_only"], m["schedule_population"]
    assert pnl_only["lp_trades"] > 0 and pnl_only["lp_beats_ecn"] > 0.85, pnl_only["lp_beats_ecn"]
    assert pnl_only["ecn_share"] < 0.05 and pnl_only["mean_cost_bp"] < 0
    response = m["buy_response"]
    assert np.all(np.diff(response) <= 0.01), response  # cheaper quotes: more buying
    worse_than_ecn = response[clients.COST_MULTIPLES > 1.0]
    assert worse_than_ecn.max() < 0.1 and response[0] > 5 * response[-1], response
    assert schedule_only["gap_median"] < 0.25, schedule_only["gap_median"]
