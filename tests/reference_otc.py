"""A plain numpy (float64) reference of one OTC market round, written from DESIGN.md ("The OTC dealer
market") and the module docstrings of ``jaxmarket.otc``, independent of the JAX code, for
differential tests.

The random parts of a round (the flow clients' orders, the tie-breaks between equally cheap venues
and the next reference price) are inputs: the tests take them from the library's ``info`` and
new state and check them separately (e.g. that flow venues are the cheapest ones).

Money is tracked as cash (``W - x P``) here, not as the library's mark-to-market wealth, so the
wealth identities are checked, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASIS_POINT = 1e-4
LP_FIELDS = ("gamma", "omega", "target_share", "share_weight", "tier_aggressiveness")
LT_FIELDS = ("omega", "alpha", "gamma", "target", "p_trade", "size_scale", "informed")
F32_MAX = float(np.finfo(np.float32).max)


# --- the ECN cost curve -------------------------------------------------------------------------

def curve_ratio(u, lam) -> np.ndarray:
    """S_ref(v) / S_ref(0) at u = v / v_max, float64:
    (omega / u)(1 - (1 - u)^(1 / omega)) with omega = (lam - 1) / (lam - 2); -ln(1 - u) / u at lam = 2;
    1 at u = 0. Evaluated as -expm1(a log1p(-u)) / (a u), a = 1 / omega, which is the same expression
    without float64 cancellation at tiny u; below 1e-12 (where even that loses digits to the
    division by a tiny u times a) the Taylor series 1 + (1 - a) u / 2 + (1 - a)(2 - a) u^2 / 6."""
    u = np.asarray(u, np.float64)
    lam = np.asarray(lam, np.float64)
    u, lam = np.broadcast_arrays(u, lam)
    out = np.empty(u.shape, np.float64)
    flat_u, flat_lam, flat_out = u.ravel(), lam.ravel(), out.ravel()
    for i, (ui, li) in enumerate(zip(flat_u, flat_lam)):
        flat_out[i] = _ratio_scalar(float(ui), float(li))
    return out


def _ratio_scalar(u: float, lam: float) -> float:
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u = {u}: need 0 <= u < 1")
    if lam == 2.0:
        if u == 0.0:
            return 1.0
        if u < 1e-12:
            return 1.0 + u / 2.0 + u * u / 3.0
        return -np.log1p(-u) / u
    a = (lam - 2.0) / (lam - 1.0)  # 1 / omega
    if u == 0.0:
        return 1.0
    if u < 1e-12 and abs(a) * u < 1e-6:
        return 1.0 + 0.5 * (1.0 - a) * u + (1.0 - a) * (2.0 - a) * u * u / 6.0
    with np.errstate(over="ignore"):
        return float(-np.expm1(a * np.log1p(-u)) / (a * u))


def s_ref(v, s0: float, depth: float, lam: float, max_fill: float) -> np.ndarray:
    """S_ref(v) (relative half-spread) for sizes v >= 0, sizes capped at max_fill * depth."""
    u = np.minimum(np.asarray(v, np.float64) / depth, max_fill)
    return 0.5 * s0 * curve_ratio(u, lam)


# --- quotes -------------------------------------------------------------------------------------

def quote_prices(price, tier_eps, skew, tier, s_v, s_0):
    """(bid, ask), each (n_lps, n_clients): P(1 -/+ (1 + eps_k) S_ref(v) + skew S_ref(0))."""
    tier_eps = np.asarray(tier_eps, np.float64)
    skew = np.asarray(skew, np.float64)
    s_v = np.asarray(s_v, np.float64)
    n_lps, n_c = tier_eps.shape[0], len(tier)
    bid = np.empty((n_lps, n_c))
    ask = np.empty((n_lps, n_c))
    for j in range(n_lps):
        for i in range(n_c):
            eps = tier_eps[j, int(tier[i])]
            ask[j, i] = price * (1.0 + (1.0 + eps) * s_v[i] + skew[j] * s_0)
            bid[j, i] = price * (1.0 - (1.0 + eps) * s_v[i] + skew[j] * s_0)
    return bid, ask


def client_costs(tier_eps, skew, tier, side, s_v, s_0) -> np.ndarray:
    """Cost per unit relative to the mid (n_lps, n_clients) of buying (side +1) at the ask or selling
    (side -1) at the bid, from the quote prices: ask / P - 1 for a buy, 1 - bid / P for a sell."""
    bid, ask = quote_prices(1.0, tier_eps, skew, tier, s_v, s_0)
    side = np.asarray(side, np.float64)
    return np.where(side[None, :] > 0, ask - 1.0, 1.0 - bid)


def venue_costs(pre: dict, side, size, p: dict) -> np.ndarray:
    """(n_lps + 1, n_clients): each LP's quote cost and the ECN's S_ref(size) for each client."""
    s_v = s_ref(size, pre["s0"], p["ecn_depth"], p["ecn_lambda"], p["max_fill"])
    s_0 = 0.5 * pre["s0"]
    lp = client_costs(pre["tier_eps"], pre["skew"], pre["tier"], np.where(np.asarray(side) >= 0, 1.0, -1.0), s_v, s_0)
    return np.concatenate([lp, s_v[None, :]], axis=0)


# --- RL client actions ---------------------------------------------------------------------------

def decode_lt_codes(codes, connected, size_scale, n_lps: int, max_size: float):
    """(venue, side, size) of RL client action codes: 0 no trade; 1 + 2j + s with LP j; 1 + 2 n_lps + s
    on the ECN (s = 0 buy, 1 sell). Out-of-range codes or unconnected LPs mean no trade.
    ``connected``: (n_lps, n_lts) bool."""
    n = len(codes)
    venue = np.full(n, n_lps + 1, np.int64)
    side = np.zeros(n)
    size = np.zeros(n)
    for i, code in enumerate(codes):
        code = int(code)
        if code < 1 or code >= 1 + 2 * (n_lps + 1):
            continue
        v, s = divmod(code - 1, 2)
        if v < n_lps and not connected[v, i]:
            continue
        if size_scale[i] <= 0:
            continue
        venue[i] = v
        side[i] = 1.0 if s == 0 else -1.0
        size[i] = min(size_scale[i], max_size)
    return venue, side, size


# --- one round -----------------------------------------------------------------------------------

@dataclass
class RoundResult:
    lp_inventory: np.ndarray
    lp_wealth: np.ndarray
    client_inventory: np.ndarray
    client_wealth: np.ndarray
    client_executed: np.ndarray
    ecn_inventory: float
    ecn_wealth: float
    paid: np.ndarray  # (n_clients,) money over the mid each client paid
    lp_spread: np.ndarray  # (n_lps,)
    hedge: np.ndarray  # (n_lps,) signed ECN quantity
    lp_hedge_cost: np.ndarray
    lp_inventory_pnl: np.ndarray
    lp_volume: np.ndarray  # (n_lps,) client units traded with each LP
    lp_buys: np.ndarray  # units clients bought from each LP
    lp_sells: np.ndarray
    ecn_client_volume: float
    share: np.ndarray
    lp_reward: np.ndarray
    lt_reward: np.ndarray  # (n_lts,)
    net_ecn_volume: float  # units bought on the ECN minus units sold (clients and hedges)


def settle_round(pre: dict, side, size, venue, next_price: float, p: dict, n_lts: int) -> RoundResult:
    """One round's settlement.

    ``pre``: the pre-round state (after quoting and choosing) as float64 numpy arrays: price,
    price0, s0, round, tier_eps (n_lps, n_tiers), skew, hedge (n_lps,), tier (n_clients,),
    lp_inventory, lp_wealth (n_lps,), client_inventory, client_wealth, client_executed (n_clients,),
    ecn_inventory, ecn_wealth, lp_types (n_lps, 5), client_types (n_clients, 7).
    ``side``/``size``/``venue``: (n_clients,) the round's orders; venue j < n_lps an LP, n_lps the
    ECN, n_lps + 1 no trade. ``next_price``: the reference price after the round (impact included).
    ``p``: ecn_depth, ecn_lambda, max_fill, n_rounds.
    """
    P, P1 = float(pre["price"]), float(next_price)
    s0 = float(pre["s0"])
    depth, lam, max_fill = p["ecn_depth"], p["ecn_lambda"], p["max_fill"]
    n_lps = pre["tier_eps"].shape[0]
    n_c = len(side)
    side = np.asarray(side, np.float64)
    size = np.asarray(size, np.float64)
    venue = np.asarray(venue)
    mu = float(pre["price0"]) * BASIS_POINT

    # cash = W - x P at the round's price
    lp_x = np.array(pre["lp_inventory"], np.float64)
    lp_cash = np.asarray(pre["lp_wealth"], np.float64) - lp_x * P
    client_x = np.array(pre["client_inventory"], np.float64)
    client_cash = np.asarray(pre["client_wealth"], np.float64) - client_x * P
    ecn_x = float(pre["ecn_inventory"])
    ecn_cash = float(pre["ecn_wealth"]) - ecn_x * P

    s_0 = 0.5 * s0
    paid = np.zeros(n_c)
    lp_spread = np.zeros(n_lps)
    lp_buys, lp_sells = np.zeros(n_lps), np.zeros(n_lps)
    ecn_client_vol = 0.0
    net_ecn = 0.0
    executed = np.array(pre["client_executed"], np.float64)
    for i in range(n_c):
        if side[i] == 0 or size[i] <= 0:
            continue
        v, q = int(venue[i]), size[i]
        s_v = float(s_ref(q, s0, depth, lam, max_fill))
        if v < n_lps:
            eps = pre["tier_eps"][v, int(pre["tier"][i])]
            ask = P * (1.0 + (1.0 + eps) * s_v + pre["skew"][v] * s_0)
            bid = P * (1.0 - (1.0 + eps) * s_v + pre["skew"][v] * s_0)
            exec_price = ask if side[i] > 0 else bid
            if side[i] > 0:
                lp_buys[v] += q
            else:
                lp_sells[v] += q
            lp_x[v] -= side[i] * q
            lp_cash[v] += side[i] * q * exec_price
            lp_spread[v] += side[i] * q * (exec_price - P)
        elif v == n_lps:
            exec_price = P * (1.0 + side[i] * s_v)
            ecn_x -= side[i] * q
            ecn_cash += side[i] * q * exec_price
            ecn_client_vol += q
            net_ecn += side[i] * q
        else:
            raise AssertionError(f"client {i} trades (side {side[i]}) at venue {v} = no trade")
        client_x[i] += side[i] * q
        client_cash[i] -= side[i] * q * exec_price
        paid[i] = side[i] * q * (exec_price - P)
        executed[i] += side[i] * q

    # hedge: trade -h z on the ECN, at most max_fill * depth either way
    cap = max_fill * depth
    hedge = np.clip(-np.asarray(pre["hedge"], np.float64) * lp_x, -cap, cap)
    hedge_cost = np.zeros(n_lps)
    for j in range(n_lps):
        q = hedge[j]
        if q == 0:
            continue
        exec_price = P * (1.0 + np.sign(q) * float(s_ref(abs(q), s0, depth, lam, max_fill)))
        lp_x[j] += q
        lp_cash[j] -= q * exec_price
        ecn_x -= q
        ecn_cash += q * exec_price
        hedge_cost[j] = q * (exec_price - P)
        net_ecn += q

    lp_wealth = lp_cash + lp_x * P1
    client_wealth = client_cash + client_x * P1
    ecn_wealth = ecn_cash + ecn_x * P1
    lp_inv_pnl = lp_x * (P1 - P)
    lt_inv_pnl = client_x * (P1 - P)

    lp_vol = lp_buys + lp_sells
    total = lp_vol.sum() + ecn_client_vol
    share = lp_vol / total if total > 0 else np.zeros(n_lps)

    lpt = np.asarray(pre["lp_types"], np.float64)
    g, w, m, c = (lpt[:, LP_FIELDS.index(f)] for f in ("gamma", "omega", "target_share", "share_weight"))
    pnl = (lp_spread + lp_inv_pnl - hedge_cost - g * np.abs(lp_inv_pnl)) / mu
    share_term = -np.abs(share - m) if total > 0 else np.zeros(n_lps)
    lp_reward = w * pnl + (1.0 - w) * c * share_term

    ltt = np.asarray(pre["client_types"], np.float64)[:n_lts]
    w, a, g, target = (ltt[:, LT_FIELDS.index(f)] for f in ("omega", "alpha", "gamma", "target"))
    t = float(pre["round"]) + 1.0
    lt_pnl = (-paid[:n_lts] + lt_inv_pnl[:n_lts] - g * np.abs(lt_inv_pnl[:n_lts])) / mu
    lt_reward = w * a * lt_pnl + (1.0 - w) * (-np.abs(executed[:n_lts] - target * t / p["n_rounds"]))

    return RoundResult(
        lp_inventory=lp_x, lp_wealth=lp_wealth, client_inventory=client_x, client_wealth=client_wealth, client_executed=executed,
        ecn_inventory=ecn_x, ecn_wealth=ecn_wealth, paid=paid, lp_spread=lp_spread, hedge=hedge,
        lp_hedge_cost=hedge_cost, lp_inventory_pnl=lp_inv_pnl, lp_volume=lp_vol, lp_buys=lp_buys, lp_sells=lp_sells,
        ecn_client_volume=ecn_client_vol, share=share, lp_reward=lp_reward, lt_reward=lt_reward, net_ecn_volume=net_ecn,
    )
