"""The stages as a graph of exits: which can never end, which can loop without time passing, and
how often a deal visits each (the absorbing chain's expected visits).

Validation and the run-cost estimate both ask these questions of scenarios of any size (a fitted
CRM with thousands of stages), so every function here is linear in stages plus exits, except
the expected visits, which solve one sparse linear system.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterable, Mapping

import numpy as np

#: States where a deal's path through the stages ends (dormant always ends: give-up).
ENDS = frozenset({"won", "lost", "no_decision", "dormant"})

Exits = Mapping[str, Mapping[str, float]]  # stage -> {target: probability}


def _edges(exits: Exits) -> dict[str, list[str]]:
    return {stage: [t for t, p in out.items() if p > 0] for stage, out in exits.items()}


def stages_that_never_end(exits: Exits) -> list[str]:
    """Stages (in the given order) from which no exit path with probability > 0 reaches an end.

    A breadth-first walk backwards from the ends: each edge is looked at once.
    """
    incoming: dict[str, list[str]] = {}
    for stage, targets in _edges(exits).items():
        for target in targets:
            incoming.setdefault(target, []).append(stage)
    can_end = set(ENDS)
    queue = deque(ENDS)
    while queue:
        node = queue.popleft()
        for before in incoming.get(node, ()):
            if before not in can_end:
                can_end.add(before)
                queue.append(before)
    return [stage for stage in exits if stage not in can_end]


def unreachable_stages(exits: Exits, start: Iterable[str]) -> list[str]:
    """Stages (in the given order) that no exit path with probability > 0 reaches from
    ``start`` (where deals begin, or are sent by a mechanism). A breadth-first walk forwards."""
    edges = _edges(exits)
    reached = set(start)
    queue = deque(reached)
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in reached:
                reached.add(target)
                queue.append(target)
    return [stage for stage in exits if stage not in reached]


def zero_time_cycles(exits: Exits, instant: Iterable[str]) -> list[str]:
    """Stages of ``instant`` (stages whose visit takes no time) that lie on a cycle of exits
    through instant stages only: a deal there can go round without time passing.

    Kahn's peeling, forwards and backwards: what remains of the instant subgraph after taking
    off every stage with no instant predecessor (then successor) left is the cycles and what
    lies between them. Linear in stages and exits.
    """
    nodes = set(instant)
    out = {n: [t for t, p in exits[n].items() if p > 0 and t in nodes] for n in nodes}
    remaining = _peel(nodes, out)
    back: dict[str, list[str]] = {n: [] for n in remaining}
    for n in remaining:
        for t in out[n]:
            if t in remaining:
                back[t].append(n)
    remaining = _peel(remaining, back)
    return [stage for stage in exits if stage in remaining]


def _peel(nodes: set[str], out: Mapping[str, list[str]]) -> set[str]:
    """``nodes`` less every node that no cycle leads into (repeatedly: in-degree 0 inside)."""
    indegree = dict.fromkeys(nodes, 0)
    for n in nodes:
        for t in out[n]:
            if t in indegree:
                indegree[t] += 1
    queue = deque(n for n, d in indegree.items() if d == 0)
    left = set(nodes)
    while queue:
        n = queue.popleft()
        left.discard(n)
        for t in out[n]:
            if t in indegree:
                indegree[t] -= 1
                if indegree[t] == 0:
                    queue.append(t)
    return left


def expected_visits(exits: Exits, start: Mapping[str, float]) -> dict[str, float]:
    """Expected visits of each stage by one deal whose first stage is drawn from ``start``.

    The visits ``v`` solve ``v = start + Q^T v`` (``Q``: exits between stages; the rest of a
    row goes to dormant or an outcome). A dense numpy solve for a chain of a usual size (no
    scipy import: it costs a command half a second of start-up), a sparse one beyond, so that
    thousands of stages cost milliseconds. A chain that cannot be solved (a loop of
    probability 1) gives infinite visits.
    """
    names = list(exits)
    code = {name: i for i, name in enumerate(names)}
    rows, cols, values = [], [], []
    for name, out in exits.items():
        for target, p in out.items():
            if target in code and p > 0:
                rows.append(code[target])  # transposed: visits flow from name into target
                cols.append(code[name])
                values.append(p)
    n = len(names)
    rhs = np.array([start.get(name, 0.0) for name in names], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a singular system: reported as infinite visits
        try:
            visits = _solve(n, rows, cols, values, rhs)
        except (RuntimeError, np.linalg.LinAlgError):
            visits = np.full(n, np.inf)
    if not np.all(np.isfinite(visits)) or np.any(visits < -1e-9):
        visits = np.full(n, np.inf)
    return {name: max(float(v), 0.0) for name, v in zip(names, visits, strict=True)}


#: Up to this many stages the visits are solved densely (n^2 floats: 2 MB at 500).
DENSE_UP_TO = 500


def _solve(n: int, rows: list, cols: list, values: list, rhs: np.ndarray) -> np.ndarray:
    """``(I - Q^T) v = rhs`` with ``Q^T`` given by its nonzero entries."""
    if n <= DENSE_UP_TO:
        system = np.identity(n)
        np.subtract.at(system, (np.array(rows, dtype=int), np.array(cols, dtype=int)), values)
        return np.linalg.solve(system, rhs)
    import scipy.sparse as sparse
    import scipy.sparse.linalg as sparse_linalg

    q_t = sparse.csc_matrix((values, (rows, cols)), shape=(n, n))
    system = (sparse.identity(n, format="csc") - q_t).tocsc()
    return np.atleast_1d(sparse_linalg.spsolve(system, rhs))
