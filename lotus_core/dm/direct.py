"""The allocator's DPP problem handed to Clarabel without cvxpy's per-solve machinery.

`Problem.solve` on a compiled DPP problem still rebuilds the solver's data through scipy
sparse objects and inverts the solution through the whole reduction chain: ~80 % of a
re-solve of the allocator's small problem, the solver itself the rest. `DirectClarabel`
does what that path computes, once compiled:

- the data: the same parameter vector times the same cached parameter-to-data maps
  (`ParamConeProg`), put into the fixed sparsity structure by index arrays found once;
- the solver: created on the first solve, `update`d after, as cvxpy's solver cache does
  (a new one when an update is refused);
- the solution: the variables' values and the duals of the constraints asked for, taken
  from Clarabel's x and z by the positions cvxpy's own inversion reads (found by inverting
  a marked solution once), and the problem's value evaluated by cvxpy from them, as
  `Problem.unpack` does.

`build` checks the data against `get_problem_data`'s byte for byte on two sets of
parameter values and declines (None: the caller keeps `Problem.solve`) when anything
differs or the problem has a shape this path does not cover, so a cvxpy upgrade cannot
change a decision silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import cvxpy as cp

SOLVER = "CLARABEL"


class DirectClarabel:
    """One compiled problem solved by Clarabel directly (see the module docstring)."""

    def __init__(self) -> None:
        self.solver: Any = None  # the Clarabel solver, kept between solves

    @classmethod
    def build(cls, problem: cp.Problem, duals_of: Iterable[cp.Constraint],
              solver_opts: Mapping[str, Any]) -> DirectClarabel | None:
        """The direct path for `problem` (every parameter without attributes), or None.
        Overwrites the parameters' values (the caller sets them before each solve)."""
        try:
            self = cls()
            ok = self._compile(problem, list(duals_of), dict(solver_opts))
        except (ImportError, AttributeError, KeyError, TypeError, ValueError, IndexError,
                AssertionError):
            return None
        return self if ok else None

    # -- built once -----------------------------------------------------------------------
    def _compile(self, problem: cp.Problem, duals_of: list[cp.Constraint],
                 opts: dict[str, Any]) -> bool:
        import clarabel
        import scipy.sparse as sp
        from cvxpy import settings as s
        from cvxpy.expressions.constants.parameter import Parameter
        from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import (
            CLARABEL,
            dims_to_solver_cones,
        )

        self._clarabel, self._sp, self._s, self._conif = clarabel, sp, s, CLARABEL
        self.problem, self.opts = problem, opts
        params = problem.parameters()
        # no attribute: no reduction transforms a parameter's value (`update_parameters`)
        if not all(type(p) is Parameter and not any(_set(v) for v in p.attributes.values())
                   for p in params) or not hasattr(clarabel.DefaultSolver, "update"):
            return False
        _probe_values(params, 0)
        data, chain, inverse = problem.get_problem_data(SOLVER, solver_opts=opts)
        prog = data[s.PARAM_PROB]
        if (prog.P is None or prog.lb_tensor is not None or prog.ub_tensor is not None
                or data.get(s.LOWER_BOUNDS) is not None or data.get(s.UPPER_BOUNDS) is not None
                or prog.reduced_A.mapping_nonzero is not None):
            return False
        by_id = {p.id: p for p in params}
        if set(prog.param_id_to_col) != {*by_id, _constant_id()}:
            return False
        self.params = params
        self.layout = [(by_id[i], col, prog.param_id_to_size[i])
                       for i, col in sorted(prog.param_id_to_col.items(), key=lambda kv: kv[1])
                       if i != _constant_id()]
        self.const_col = prog.param_id_to_col[_constant_id()]
        self.size = prog.total_param_size + 1
        self.nx = prog.x.size
        # q: one row of the map per entry of (q, d); at most one term each, so the
        # dense product sums what the sparse one does, in the same (only) order
        q_map = sp.csr_array(prog.q)
        if q_map.shape != (self.nx + 1, self.size) or np.diff(q_map.indptr).max(
                initial=0) > 1:
            return False
        self.q_map = q_map
        self.a_map = prog.reduced_A.reduced_mat
        a_idx, a_ptr, a_shape = prog.reduced_A.problem_data_index
        self.m = int(a_shape[0])
        split = int(a_ptr[self.nx])
        self.a_split = split
        self.a_indices = np.asarray(a_idx[:split]).copy()
        self.a_indptr = np.asarray(a_ptr[:self.nx + 1]).copy()
        self.b_rows = np.asarray(a_idx[split:]).copy()
        if len(np.unique(self.b_rows)) != len(self.b_rows) or int(a_shape[1]) != self.nx + 1:
            return False
        self.p_map = prog.reduced_P.reduced_mat
        p_idx, p_ptr, p_shape = prog.reduced_P.problem_data_index
        marks = np.arange(1.0, len(p_idx) + 1.0)
        upper = sp.triu(sp.csc_array((marks, p_idx, p_ptr), shape=p_shape)).tocsc()
        order = upper.data - 1.0
        if (not np.array_equal(order, np.round(order)) or len(set(order.tolist()))
                != len(order) or (len(order) and (order.min() < 0
                                                  or order.max() >= len(marks)))):
            return False
        self.p_order = order.astype(np.int64)
        self.p_indices, self.p_indptr = upper.indices.copy(), upper.indptr.copy()
        self.p_shape = upper.shape
        self._a = sp.csc_array((np.zeros(split), self.a_indices, self.a_indptr),
                               shape=(self.m, self.nx))
        self._p = sp.csc_array((np.zeros(len(self.p_order)), self.p_indices, self.p_indptr),
                               shape=self.p_shape)
        self.cones = dims_to_solver_cones(data[CLARABEL.DIMS])
        self.accept_unknown = CLARABEL.ACCEPT_UNKNOWN in opts
        # the data, byte for byte as cvxpy hands it to Clarabel, on two sets of values
        for k in (0, 1):
            _probe_values(params, k)
            data, _, inverse = problem.get_problem_data(SOLVER, solver_opts=opts)
            mine = self._data(self._param_vec())
            theirs = (sp.triu(data[s.P]).tocsc(), data[s.C], sp.csc_array(data[s.A]),
                      np.asarray(data[s.B]), np.asarray(inverse[-1][s.OFFSET]))
            if not all(_same(a, b) for a, b in zip(mine, theirs, strict=True)):
                return False
        return self._map_solution(problem, duals_of, chain, inverse)

    def _map_solution(self, problem: cp.Problem, duals_of: list[cp.Constraint], chain: Any,
                      inverse: list[Any]) -> bool:
        """Where each variable's value and each asked dual sits in Clarabel's x and z:
        cvxpy's inversion of a solution whose entries are their own positions."""
        s = self._s
        nz = self.m
        x = np.arange(1.0, self.nx + 1.0)
        z = np.arange(self.nx + 1.0, self.nx + nz + 1.0)
        marked = SimpleNamespace(status="Solved", x=x, z=z, s=np.zeros(nz), obj_val=0.0,
                                 solve_time=0.0, iterations=0)
        sol = chain.invert(marked, inverse)
        if sol.status != s.OPTIMAL:
            return False
        self.variables = []
        for v in problem.variables():
            got = np.asarray(sol.primal_vars[v.id], dtype=np.float64)
            pos = got - 1.0
            if got.shape != v.shape or not _positions(pos, self.nx):
                return False
            self.variables.append((v, pos.astype(np.int64)))
        self.duals = []
        for c in duals_of:
            got = np.asarray(sol.dual_vars[c.id], dtype=np.float64)
            sign = 1.0 if np.all(got > 0) else -1.0 if np.all(got < 0) else 0.0
            pos = np.abs(got) - self.nx - 1.0
            if sign == 0.0 or not _positions(pos, nz):
                return False
            self.duals.append((c, pos.astype(np.int64), sign < 0, got.shape))
        return True

    # -- each solve -----------------------------------------------------------------------
    def _param_vec(self) -> np.ndarray:
        """`canonInterface.get_parameter_vector`: each value flattened in Fortran order."""
        vec = np.zeros(self.size)
        for p, col, size in self.layout:
            vec[col:col + size] = np.array(p.value).flatten(order="F")
        vec[self.const_col] = 1
        return vec

    def _data(self, vec: np.ndarray) -> tuple[Any, np.ndarray, Any, np.ndarray, np.ndarray]:
        """(triu P, q, A, b, offset) as `ConicSolver.apply` and Clarabel's interface make
        them: the same products, the same sparsity, A negated, b filled as `toarray`."""
        qd = self.q_map @ vec
        flat_a = self.a_map @ vec
        b = np.zeros(self.m)
        b[self.b_rows] += flat_a[self.a_split:]
        # the structure checked once, its index arrays shared (never written); each solve
        # gives the matrices new value arrays
        a, p = self._a, self._p
        a.data = -flat_a[:self.a_split]
        p.data = (self.p_map @ vec)[self.p_order]
        return p, qd[:self.nx], a, b, np.squeeze(qd[self.nx:])

    def solve(self) -> str:
        """Solve with the parameters' current values; store the variables' values and the
        asked duals as `Problem.solve` would, and return cvxpy's status. Raises
        `cvxpy.error.SolverError` where `Problem.solve` does."""
        from cvxpy import error

        s, conif = self._s, self._conif
        p, q, a, b, _ = self._data(self._param_vec())
        solver = self._updated(p, q, a, b)
        if solver is None:
            settings = conif.parse_solver_opts(False, self.opts)
            solver = self._clarabel.DefaultSolver(p, q, a, b, self.cones, settings)
        res = solver.solve()
        self.solver = solver
        status = conif.STATUS_MAP.get(str(res.status), s.SOLVER_ERROR)
        if (self.accept_unknown and res.x is not None and res.z is not None
                and str(res.status) == "InsufficientProgress"):
            status = s.OPTIMAL_INACCURATE
        if status in s.INACCURATE:
            warnings.warn("Solution may be inaccurate. Try another solver, adjusting the "
                          "solver settings, or solve with verbose=True for more "
                          "information.", stacklevel=2)
        if status in s.ERROR:
            raise error.SolverError(f"Solver '{SOLVER}' failed. Try another solver, or "
                                    "solve with verbose=True for more information.")
        if status not in s.SOLUTION_PRESENT:
            for v, _ in self.variables:
                v.save_value(None)
            return status
        x, z = np.asarray(res.x), np.asarray(res.z)
        for v, pos in self.variables:
            v.save_value(x[pos])
        for c, pos, negate, shape in self.duals:
            d = -z[pos] if negate else z[pos]
            c.save_dual_value(d.item() if shape == () else d)
        return status

    def _updated(self, p: Any, q: np.ndarray, a: Any, b: np.ndarray) -> Any:
        """The kept solver with the new data, as cvxpy's `updated_solver`; None: make one."""
        solver = self.solver
        if solver is None or not solver.is_data_update_allowed():
            return None
        settings = self._conif.parse_solver_opts(False, self.opts, solver.get_settings())
        try:
            solver.update(P=p, q=q, A=a, b=b, settings=settings)
        except Exception:  # noqa: BLE001 - cvxpy makes a new solver on any refusal
            return None
        return solver


def _constant_id() -> int:
    from cvxpy.lin_ops import lin_op

    return int(lin_op.CONSTANT_ID)


def _probe_values(params: Iterable[cp.Parameter], k: int) -> None:
    """Distinct values (zeros among them on the second set) for the build's checks."""
    for i, p in enumerate(params):
        n = int(np.prod(p.shape)) if p.shape else 1
        v = (np.arange(n, dtype=np.float64) + 1.0 + 10.0 * i) / 7.0
        if k:
            v = -v
            v[::2] = 0.0
        p.save_value(v.reshape(p.shape, order="F") if p.shape else np.float64(v[0]))


def _set(v: Any) -> bool:
    """An attribute in use: True, or any value but False / None."""
    return v is not None and v is not False


def _positions(pos: np.ndarray, n: int) -> bool:
    return bool(np.all(pos == np.round(pos)) and (pos.size == 0 or (pos.min() >= 0
                                                                   and pos.max() < n)))


def _same(a: Any, b: Any) -> bool:
    """Byte-equal arrays, or sparse matrices of the same shape, structure and data."""
    if hasattr(a, "indptr") or hasattr(b, "indptr"):
        return (hasattr(a, "indptr") and hasattr(b, "indptr") and a.shape == b.shape
                and all(_same(np.asarray(getattr(a, k)), np.asarray(getattr(b, k)))
                        for k in ("data", "indices", "indptr")))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
