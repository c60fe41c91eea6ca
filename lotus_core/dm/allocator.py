"""The allocator: one convex problem, built once (DPP) and re-solved with new parameters.

    maximise   μᵀw − λ‖Fw‖² − γ‖z‖² − cᵀ|z|          z = w − w₀, FᵀF = Σ
    subject to ‖w‖₁ ≤ gross          (budget: drawdown ratchet × multipliers)
               ‖w‖₁ ≤ leverage       (hard account limit)
               ±Σw ≤ net
               |w_i| ≤ asset_cap_i
               |w_i| ≤ kelly_i       (fractional Kelly: f·|μ_i|/Σ_ii)
               |z_i| ≤ liquidity_i   (a fraction of displayed depth within N bps / equity)
               ‖z‖₁ ≤ turnover       (what is left of the day's budget × multipliers)
               ‖Fw‖₂ ≤ risk_target   (× multipliers)
               ‖w − anchor‖₁ ≤ anchor_budget (the short-horizon tilt around the base)

Units: w in fractions of equity; μ and c in fractions (bps / 1e4) over the base horizon;
Σ in fraction². A constraint is reported binding when it is active (slack ≈ 0) and its
dual value is positive. A failed or infeasible solve returns "hold" (w = w₀) with a reason,
never raises.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from lotus_core.dm.direct import SOLVER, DirectClarabel

if TYPE_CHECKING:  # cvxpy is imported where a problem is built: every process that never
    import cvxpy as cp  # allocates (the code server, the CLI) spared its import

BIG = 1e6  # "no limit" for a budget parameter
SCALE = 1e4  # the objective is solved in bps of equity: fractions (~1e-4) sit badly with
# the solver's absolute tolerances (~1e-8); objective and duals are reported unscaled
_OK = ("optimal", "optimal_inaccurate")


@dataclass(frozen=True)
class AllocationInput:
    mu: np.ndarray
    cov: np.ndarray
    w0: np.ndarray
    cost: np.ndarray
    liquidity: np.ndarray
    kelly: np.ndarray
    asset_cap: np.ndarray
    gross: float
    leverage: float
    net: float
    turnover: float
    risk_target: float
    anchor: np.ndarray | None = None
    anchor_budget: float = BIG


@dataclass(frozen=True)
class Allocation:
    status: str  # optimal | optimal_inaccurate | hold | skipped (no trade possible: not solved)
    w: np.ndarray
    binding: tuple[str, ...]
    objective: float
    expected_cost: float  # cᵀ|z|, fraction of equity
    turnover: float  # ‖z‖₁
    risk: float  # ‖Fw‖₂, fraction over the horizon
    solve_ms: float
    solver_status: str
    reason: str = ""
    duals: dict[str, float] = field(default_factory=dict)

    @property
    def hold(self) -> bool:
        return self.status == "hold"


def cholesky_factor(cov: np.ndarray) -> np.ndarray:
    """F with FᵀF = Σ (Σ symmetrised and made positive definite by a tiny jitter)."""
    s = 0.5 * (cov + cov.T)
    n = len(s)
    jitter = 1e-12 * max(float(np.trace(s)) / max(n, 1), 1e-16)
    for _ in range(8):
        try:
            return np.asarray(np.linalg.cholesky(s + jitter * np.eye(n)).T)
        except np.linalg.LinAlgError:
            jitter *= 100
    vals, vecs = np.linalg.eigh(s)
    return np.asarray((vecs * np.sqrt(np.clip(vals, 1e-16, None))).T)


class Allocator:
    """The compiled problem for a fixed universe of n assets."""

    def __init__(self, n: int, risk_aversion: float, tether: float,
                 solver: str = "CLARABEL", labels: tuple[str, ...] | None = None,
                 solver_opts: dict[str, float] | None = None) -> None:
        import cvxpy as cp

        self.n = n
        self.solver_opts = dict(solver_opts or {})
        self.labels = labels or tuple(str(i) for i in range(n))
        self.solver = solver
        self.mu = cp.Parameter(n, name="mu")
        self.F = cp.Parameter((n, n), name="F")
        self.w0 = cp.Parameter(n, name="w0")
        self.cost = cp.Parameter(n, name="cost")
        self.liquidity = cp.Parameter(n, name="liquidity")
        self.kelly = cp.Parameter(n, name="kelly")
        self.asset_cap = cp.Parameter(n, name="asset_cap")
        self.gross = cp.Parameter(name="gross")
        self.leverage = cp.Parameter(name="leverage")
        self.net = cp.Parameter(name="net")
        self.turnover = cp.Parameter(name="turnover")
        self.risk_target = cp.Parameter(name="risk_target")
        self.anchor = cp.Parameter(n, name="anchor")
        self.anchor_budget = cp.Parameter(name="anchor_budget")
        w = self.w = cp.Variable(n, name="w")
        z = self.z = cp.Variable(n, name="z")  # the trade
        s = cp.Variable(n, name="s")  # s ≥ |w|: one epigraph shared by gross and the caps
        t = cp.Variable(n, name="t")  # t ≥ |z|: shared by costs, liquidity and turnover
        y = cp.Variable(n, name="y")  # y = Fw: one dense block for risk and its budget
        self.cost_expr = self.cost @ t
        self.risk_expr = cp.norm(y, 2)
        objective = cp.Maximize(SCALE * (self.mu @ w - risk_aversion * cp.sum_squares(y)
                                         - tether * cp.sum_squares(z) - self.cost_expr))
        self.named: dict[str, cp.Constraint] = {
            "gross": cp.sum(s) <= self.gross,
            "leverage": cp.sum(s) <= self.leverage,
            "net_long": cp.sum(w) <= self.net,
            "net_short": -cp.sum(w) <= self.net,
            "asset_cap": s <= self.asset_cap,
            "kelly_cap": s <= self.kelly,
            "liquidity_cap": t <= self.liquidity,
            "turnover": cp.sum(t) <= self.turnover,
            "risk_budget": self.risk_expr <= self.risk_target,
            "tilt_anchor": cp.norm1(w - self.anchor) <= self.anchor_budget,
        }
        structure = [z == w - self.w0, y == self.F @ w, s >= w, s >= -w, t >= z, t >= -z]
        def v(x: cp.Expression) -> np.ndarray:
            return np.asarray(x.value, dtype=np.float64)

        self._slack = {
            "gross": lambda: v(self.gross) - np.abs(v(w)).sum(),
            "leverage": lambda: v(self.leverage) - np.abs(v(w)).sum(),
            "net_long": lambda: v(self.net) - v(w).sum(),
            "net_short": lambda: v(self.net) + v(w).sum(),
            "asset_cap": lambda: v(self.asset_cap) - np.abs(v(w)),
            "kelly_cap": lambda: v(self.kelly) - np.abs(v(w)),
            "liquidity_cap": lambda: v(self.liquidity) - np.abs(v(z)),
            "turnover": lambda: v(self.turnover) - np.abs(v(z)).sum(),
            "risk_budget": lambda: v(self.risk_target) - np.linalg.norm(v(self.F) @ v(w)),
            "tilt_anchor": lambda: v(self.anchor_budget) - np.abs(v(w) - v(self.anchor)).sum(),
        }
        constraints = [*structure, *self.named.values()]
        self.problem = cp.Problem(objective, constraints)
        if not self.problem.is_dpp():  # pragma: no cover - a guard for future edits
            raise AssertionError("the allocator problem must be DPP")
        self._vectors = (self.mu, self.w0, self.cost, self.liquidity, self.kelly,
                         self.asset_cap)
        self._direct: DirectClarabel | None = None
        self._last_factor: tuple[bytes, np.ndarray] | None = None  # (Σ's bytes, F)
        self._direct_tried = solver.upper() != SOLVER

    def _solve(self) -> tuple[str, float | None]:
        """Solve with the parameters' values: cvxpy's status and the problem's value.
        Clarabel's problem is solved directly (`lotus_core.dm.direct`: the same data, the
        same solver calls, the same results, without cvxpy's per-solve rebuild, most of
        a solve's time); `Problem.solve` when that path declines."""
        if self._direct is not None:
            status = self._direct.solve()
            return status, self._objective() if self.w.value is not None else None
        self.problem.solve(solver=self.solver, warm_start=True, **self.solver_opts)
        return str(self.problem.status), self.problem.value

    def _objective(self) -> Any:
        """`problem.objective.value` without its walk of the whole expression tree for a
        parameter with no value, at every solve: `_set` has given each one its value."""
        from cvxpy.interface.matrix_utilities import scalar_value

        v = self.problem.objective.args[0]._value_impl()
        return None if v is None else scalar_value(v)

    def _set(self, inp: AllocationInput) -> None:
        """Check every input here (shape, finiteness, sign), then store it with
        `save_value`: cvxpy's own per-assignment validation was a fifth of a warm solve.
        The vectors are checked together; only a failing set is gone through one by one,
        for the message naming the first bad input."""
        n = self.n
        vectors = (inp.mu, inp.w0, inp.cost, inp.liquidity, inp.kelly, inp.asset_cap)
        try:
            stack = np.array(vectors, dtype=np.float64)
        except (ValueError, TypeError):
            stack = None
        if (stack is None or stack.shape != (len(vectors), n) or not np.isfinite(stack).all()
                or (stack[2:] < 0).any()):
            self._refuse(inp)
        for param, row in zip(self._vectors, stack, strict=True):
            param.save_value(row)
        cov = np.asarray(inp.cov, dtype=np.float64)
        if cov.shape != (n, n) or not np.all(np.isfinite(cov)):
            raise ValueError(f"allocator input cov must be a finite {n}x{n} matrix")
        self.F.save_value(self._factor(cov))
        for name in ("gross", "leverage", "net", "turnover", "risk_target", "anchor_budget"):
            v = float(getattr(inp, name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"allocator input {name} must be a finite number >= 0")
            getattr(self, name).save_value(np.float64(min(v, BIG)))
        anchor = np.array(inp.w0 if inp.anchor is None else inp.anchor, dtype=np.float64)
        if anchor.shape != (n,) or not np.all(np.isfinite(anchor)):
            raise ValueError(f"allocator input anchor must be {n} finite numbers")
        self.anchor.save_value(anchor)

    def _factor(self, cov: np.ndarray) -> np.ndarray:
        """`cholesky_factor(cov)`, kept for the next solve: a decision's base and tilt
        solves share their covariance."""
        key = cov.tobytes()
        if self._last_factor is None or self._last_factor[0] != key:
            self._last_factor = (key, cholesky_factor(cov))
        return self._last_factor[1]

    def _refuse(self, inp: AllocationInput) -> NoReturn:
        """The first bad vector input, named (raises)."""
        n = self.n
        for name, arr in (("mu", inp.mu), ("w0", inp.w0), ("cost", inp.cost),
                          ("liquidity", inp.liquidity), ("kelly", inp.kelly),
                          ("asset_cap", inp.asset_cap)):
            a = np.array(arr, dtype=np.float64)
            if a.shape != (n,) or not np.all(np.isfinite(a)):
                raise ValueError(f"allocator input {name} must be {n} finite numbers")
            if name not in ("mu", "w0") and np.any(a < 0):
                raise ValueError(f"allocator input {name} must be >= 0")
        raise ValueError("allocator inputs mu, w0, cost, liquidity, kelly, asset_cap must "
                         f"be {n} finite numbers each")

    def solve(self, inp: AllocationInput) -> Allocation:
        """Solve with these parameters; "hold" with a reason when it cannot."""
        import cvxpy as cp

        w0 = np.asarray(inp.w0, dtype=np.float64)
        t0 = time.perf_counter()
        if not self._direct_tried:  # compiled once, on the first solve (as cvxpy's)
            self._direct_tried = True
            self._direct = DirectClarabel.build(self.problem, self.named.values(),
                                                self.solver_opts)
        try:
            self._set(inp)
            status, value = self._solve()
        except (cp.error.SolverError, ValueError, ArithmeticError) as e:
            ms = (time.perf_counter() - t0) * 1e3
            return self._hold(w0, ms, "error", f"solver failed: {e}".strip()[:300])
        ms = (time.perf_counter() - t0) * 1e3
        if status not in _OK or self.w.value is None or value is None:
            return self._hold(w0, ms, status, self._why(status, inp))
        w = np.asarray(self.w.value, dtype=np.float64)
        z = w - w0
        binding, duals = self._binding()
        return Allocation(
            status=status, w=w, binding=binding, objective=float(value) / SCALE,
            expected_cost=float(inp.cost @ np.abs(z)), turnover=float(np.abs(z).sum()),
            risk=float(np.linalg.norm(np.asarray(self.F.value) @ w)), solve_ms=ms,
            solver_status=status,
            duals=duals,
        )

    def _hold(self, w0: np.ndarray, ms: float, status: str, reason: str) -> Allocation:
        return Allocation("hold", w0.copy(), (), float("nan"), 0.0, 0.0, float("nan"), ms,
                          status, reason)

    def _binding(self) -> tuple[tuple[str, ...], dict[str, float]]:
        out: list[str] = []
        duals: dict[str, float] = {}
        for name, con in self.named.items():
            dual = np.atleast_1d(np.asarray(con.dual_value, dtype=np.float64)) / SCALE
            priced = dual > 1e-10
            if priced.any():  # no positive dual: inactive whatever the slack
                slack = np.atleast_1d(np.asarray(self._slack[name](), dtype=np.float64))
                rhs = np.atleast_1d(np.asarray(con.args[1].value, dtype=np.float64))
                active = priced & (slack <= 1e-7 + 1e-4 * np.abs(rhs))
            else:
                active = priced
            if dual.size == 1:
                duals[name] = float(dual[0])
                if active[0]:
                    out.append(name)
            else:
                for i in np.flatnonzero(active):
                    out.append(f"{name}:{self.labels[i]}")
                    duals[f"{name}:{self.labels[i]}"] = float(dual[i])
        return tuple(out), duals

    def _why(self, status: str, inp: AllocationInput) -> str:
        """Which limits the current book breaches that the trade limits cannot repair."""
        w0 = np.asarray(inp.w0, dtype=np.float64)
        gross0 = float(np.abs(w0).sum())
        breaches = []
        if gross0 > min(inp.gross, inp.leverage) + 1e-9:
            breaches.append(f"gross {gross0:.4g} > {min(inp.gross, inp.leverage):.4g}")
        if abs(w0.sum()) > inp.net + 1e-9:
            breaches.append(f"net {w0.sum():.4g} beyond ±{inp.net:.4g}")
        over = np.abs(w0) > np.minimum(inp.asset_cap, inp.kelly) + 1e-9
        for i in np.flatnonzero(over):
            breaches.append(f"{self.labels[i]} {w0[i]:.4g} beyond its asset/Kelly cap")
        if breaches:
            return (f"{status}: the current book breaches " + "; ".join(breaches)
                    + f" and the trade limits (turnover {inp.turnover:.4g}, liquidity) "
                    "cannot bring it back")
        return f"{status}: no allocation satisfies every limit"
