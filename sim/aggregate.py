"""From one replication's records to a compact vector, and from the vectors to the summary.

Workers reduce each replication to a fixed-length vector of numbers (:func:`reduce_replication`);
the main process appends the vectors, in replication order, to a disk-backed matrix and pools
the cycle times into histograms (:class:`Aggregate`). Memory therefore stays flat however many
replications run, and the summary is the same whatever the number of workers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from sim import team_results
from sim.model import CAUSES, OUTCOMES, Model
from sim.records import ReplicationRecords
from sim.stats import FAN_PERCENTILES, PooledQuantiles, describe, mean_and_se, ratio_mean_and_se
from sim.uncertainty import uncertainty_summary

OUTCOME_KEYS = (*OUTCOMES, "open")
CYCLE_CLASSES = ("closed", *OUTCOMES)
#: At most this many bins in a pooled cycle-time histogram (8 MB each), and in its picture in
#: summary.json: a CRM deal created centuries before the export day would otherwise ask for one
#: bin per 1/16 day of its age. Scenarios whose cycles fit in 179 years keep 1/16-day bins.
MAX_POOLED_BINS = 2**20
MAX_HISTOGRAM_BINS = 2000
#: Cycle times held before they are counted into the pooled histograms (8 bytes each).
PENDING_CYCLE_TIMES = 2**18


@dataclass(frozen=True)
class Layout:
    """Where each metric lives in a replication's vector."""

    n_periods: int
    n_open_states: int  # stages + dormant
    n_states: int
    team_width: int = 0  # our teams' numbers (sim.team_results)

    def _sizes(self) -> list[tuple[str, int]]:
        p = self.n_periods
        return [
            ("n_deals", 1),
            ("outcome_counts", len(OUTCOME_KEYS)),
            ("bookings", 1),
            ("cycle_sums", len(CYCLE_CLASSES)),
            ("cycle_counts", len(CYCLE_CLASSES)),
            ("period_bookings", p),
            ("period_won", p),
            ("open_by_state", p * self.n_open_states),
            ("stall_sums", len(CAUSES)),
            ("touched", len(CAUSES)),
            ("ended", len(CAUSES)),
            ("flows", self.n_states * self.n_states),
            ("events", 1),
            ("shocks", 1),
            ("teams", self.team_width),
        ]

    def slices(self) -> dict[str, slice]:
        return _slices(self)

    def _compute_slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, size in self._sizes():
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def width(self) -> int:
        return sum(size for _, size in self._sizes())

    @classmethod
    def of(cls, model: Model) -> Layout:
        return cls(
            model.calendar.n_periods, model.n_stages + 1, model.n_states, team_results.width(model)
        )


@functools.lru_cache(maxsize=64)
def _slices(layout: Layout) -> dict[str, slice]:
    # Asked for every replication: kept per layout (a read-only dict of a frozen one).
    return layout._compute_slices()


#: Row c, column v: 1 when stall cause c's bit is set in the mask v (of ``records.touched``).
_CAUSE_BITS = (np.arange(2 ** len(CAUSES))[None, :] >> np.arange(len(CAUSES))[:, None]) & 1


def cycle_days_by_class(model: Model, rec: ReplicationRecords) -> dict[str, np.ndarray]:
    """Cycle days (close day - creation day) of the deals closed in each way."""
    cycle = rec.closed - rec.created
    out = {"closed": cycle[rec.state >= model.won]}
    for offset, name in enumerate(OUTCOMES):
        out[name] = cycle[rec.state == model.won + offset]
    return out


def reduce_replication(model: Model, rec: ReplicationRecords) -> tuple[np.ndarray, dict]:
    """The replication's metric vector, and its cycle times for the pooled percentiles."""
    layout = Layout.of(model)
    at = layout.slices()
    vec = np.zeros(layout.width)
    won = rec.state == model.won
    vec[at["n_deals"]] = rec.n_deals
    outcome_codes = [model.won, model.won + 1, model.won + 2]
    counts = [np.count_nonzero(rec.state == c) for c in outcome_codes]
    vec[at["outcome_counts"]] = [*counts, rec.n_deals - sum(counts)]
    vec[at["bookings"]] = rec.amount[won].sum()
    cycles = cycle_days_by_class(model, rec)
    vec[at["cycle_sums"]] = [cycles[c].sum() for c in CYCLE_CLASSES]
    vec[at["cycle_counts"]] = [len(cycles[c]) for c in CYCLE_CLASSES]
    period = model.calendar.period_index(rec.closed[won])
    n_periods = layout.n_periods
    vec[at["period_bookings"]] = np.bincount(period, rec.amount[won], minlength=n_periods)
    vec[at["period_won"]] = np.bincount(period, minlength=n_periods)
    vec[at["open_by_state"]] = rec.open_by_state.ravel()
    vec[at["stall_sums"]] = rec.stall.sum(axis=0)
    # Deals touched by each cause: the masks counted once, then each cause's masks added up
    # (a deal-by-cause table of bits cost half of this function).
    masks = np.bincount(rec.touched, minlength=_CAUSE_BITS.shape[1])
    vec[at["touched"]] = _CAUSE_BITS @ masks
    vec[at["ended"]] = np.bincount(rec.ended_by[rec.ended_by >= 0], minlength=len(CAUSES))
    vec[at["flows"]] = rec.flows.ravel()
    vec[at["events"]] = rec.n_events
    vec[at["shocks"]] = len(rec.shock_days)
    vec[at["teams"]], team_waits = team_results.reduce_teams(model, rec)
    # The closed deals' cycles are the outcomes' together: pooled from their counts at the end
    # (Aggregate), not sent and counted twice.
    outcomes = {name: cycles[name] for name in OUTCOMES}
    return vec, {**outcomes, **team_waits}


def pooled_cycles(model: Model) -> dict[str, PooledQuantiles]:
    """Empty pooled cycle times, one per outcome, binned alike wherever they are counted (here,
    or in a worker for its batch: :func:`sim.runner.run_batch`). Every cycle fits below the
    upper end: a deal created at the earliest day (a CRM deal may be years old) closing at the
    horizon."""
    upper, resolution = cycle_bins(model)
    return {name: PooledQuantiles(upper, resolution) for name in OUTCOMES}


def cycle_bins(model: Model) -> tuple[float, float]:
    """(upper end, resolution) of the pooled cycle times' bins, in days."""
    upper = model.horizon - float(model.initial.created.min(initial=0.0)) + 1.0
    return upper, max(1 / 16, upper / MAX_POOLED_BINS)


class Aggregate:
    """Accumulates replication vectors in order into a disk-backed matrix.

    Args:
        model: the compiled scenario.
        replications: how many vectors will come.
        matrix: a (replications, width) array to fill: a numpy memmap for big runs.
    """

    def __init__(self, model: Model, replications: int, matrix: np.ndarray | None = None):
        self.model = model
        self.layout = Layout.of(model)
        self.at = self.layout.slices()
        shape = (replications, self.layout.width)
        self.matrix = np.zeros(shape) if matrix is None else matrix
        self.done = 0
        # Per outcome; the closed deals' are their sum (see _closed_cycles).
        self.upper, self.resolution = cycle_bins(model)
        self._cycles = pooled_cycles(model)
        # Cycle times not counted yet, per outcome: counted a few hundred thousand at a time
        # (a count of bins per replication ran over the whole range of bins each time, in the
        # main process, which a run on several jobs waits for). Counts are integers: the same
        # whatever the grouping.
        self._pending: dict[str, list[np.ndarray]] = {name: [] for name in OUTCOMES}
        self._pending_values = 0
        self.team_waits = team_results.TeamWaits(model)

    def add(
        self, vec: np.ndarray, pooled: dict[str, np.ndarray], counts: dict | None = None
    ) -> None:
        """Store a replication's vector and pool its cycle times (and its teams' waits).

        ``counts``: cycle times a worker counted into the bins already, per outcome (its whole
        batch's, carried by the batch's first output; see :func:`pooled_cycles`)."""
        self.matrix[self.done] = vec
        self.done += 1
        for name, binned in (counts or {}).items():
            self._cycles[name].add_counts(binned)
        for name, values in pooled.items():
            if name.startswith(team_results.WAIT_KEY):
                self.team_waits.add(name, values)
            else:
                self._pending[name].append(values)
                self._pending_values += len(values)
        if self._pending_values >= PENDING_CYCLE_TIMES:
            self._count_pending()

    @property
    def cycles(self) -> dict[str, PooledQuantiles]:
        """The pooled cycle times of each outcome, every replication added so far counted."""
        self._count_pending()
        return self._cycles

    def _count_pending(self) -> None:
        for name, parts in self._pending.items():
            if parts:
                self._cycles[name].add(np.concatenate(parts))
                parts.clear()
        self._pending_values = 0

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.matrix[: self.done, self.at[name]])

    def total_events(self) -> int:
        return int(self.column("events").sum())

    def per_replication(self) -> dict[str, np.ndarray]:
        """The headline metrics of each replication (the unit of paired comparisons)."""
        n = self.column("n_deals")[:, 0]
        counts = self.column("outcome_counts")
        safe = np.where(n > 0, n, 1)
        out = {"n_deals": n, "bookings": self.column("bookings")[:, 0]}
        for j, key in enumerate(OUTCOME_KEYS):
            out[f"{key}_share"] = counts[:, j] / safe
        sums, cnt = self.column("cycle_sums"), self.column("cycle_counts")
        won = CYCLE_CLASSES.index("won")
        out["cycle_days_won"] = np.where(
            cnt[:, won] > 0, sums[:, won] / np.maximum(cnt[:, won], 1), np.nan
        )
        return out

    def summary(self, target: float | None = None) -> dict:
        """The deterministic summary.json content (the README's "Results" section).

        Args:
            target: a bookings amount; adds the probability of reaching it by each quarter end.
        """
        model = self.model
        scenario = model.scenario
        n = self.column("n_deals")[:, 0]
        total_deals = n.sum()
        out = {
            "scenario": scenario.name,
            "seed": None,  # filled by the runner, which knows the seed actually used
            "replications": self.done,
            "start_date": scenario.start_date.isoformat(),
            "horizon_days": scenario.horizon_days,
            "currency": scenario.currency,
            "deals": {"mean": float(n.mean()), "total": int(total_deals)},
            "outcomes": self._outcomes(n),
            "cycle_days": self._cycle_days(),
            "bookings": describe(self.column("bookings")[:, 0]),
            "totals": self._totals(),
            "parameter_uncertainty": uncertainty_summary(scenario),
            "periods": self._periods(),
            "stall_days": self._stall_days(total_deals),
            "stall_counts": self._stall_counts(total_deals),
            "flows": self._flows(),
            "shocks_per_replication": float(self.column("shocks").mean()),
        }
        won = self.column("outcome_counts")[:, 0]
        out.update(team_results.team_summary(model, self.column("teams"), self.team_waits, won))
        if target is not None:
            out["target"] = self._target(target)
        return out

    def _totals(self) -> dict:
        """Won count and won value over the whole horizon, per replication: mean and P10-P90."""
        won = self.column("outcome_counts")[:, OUTCOME_KEYS.index("won")]
        return {
            "won_count": describe(won),
            "won_value": describe(self.column("bookings")[:, 0]),
        }

    def _target(self, amount: float) -> dict:
        """P(cumulative bookings >= amount) at each quarter end, with binomial standard errors."""
        cumulative = np.cumsum(self.column("period_bookings"), axis=1)
        labels = self.model.calendar.period_labels
        by_period = []
        for p in self.model.calendar.quarter_end_periods():
            reached = cumulative[:, p] >= amount
            probability = float(reached.mean())
            se = math.sqrt(probability * (1 - probability) / max(self.done, 1))
            by_period.append({"period": labels[p], "probability": probability, "se": se})
        return {"amount": amount, "by_period": by_period}

    def _outcomes(self, n: np.ndarray) -> dict:
        counts = self.column("outcome_counts")
        safe = np.where(n > 0, n, 1)
        out = {}
        for j, key in enumerate(OUTCOME_KEYS):
            _, se = mean_and_se(counts[:, j] / safe)
            out[key] = {
                "share": float(counts[:, j].sum() / max(n.sum(), 1)),
                "share_se": se,
                "count_mean": float(counts[:, j].mean()),
            }
        return out

    def _closed_cycles(self) -> PooledQuantiles:
        """The pooled cycle times of all closed deals: the outcomes' counts added up."""
        closed = PooledQuantiles(self.upper, self.resolution)
        cycles = self.cycles
        for name in OUTCOMES:
            closed.counts += cycles[name].counts
        return closed

    def _cycle_days(self) -> dict:
        sums, counts = self.column("cycle_sums"), self.column("cycle_counts")
        out = {}
        for j, name in enumerate(CYCLE_CLASSES):
            mean, se = ratio_mean_and_se(sums[:, j], counts[:, j])
            pooled = self._closed_cycles() if name == "closed" else self.cycles[name]
            out[name] = {
                "n": pooled.n,
                "mean": mean,
                "se": se,
                **pooled.percentiles(),
                "histogram": pooled.histogram(self.histogram_days),
            }
        return out

    @property
    def histogram_days(self) -> int:
        """Bin width of the cycle-time histograms: about fifty bins over the horizon (wider
        when the oldest open deal's age would make more than MAX_HISTOGRAM_BINS)."""
        over_horizon = math.ceil(self.model.horizon / 50)
        return max(1, over_horizon, math.ceil(self.upper / MAX_HISTOGRAM_BINS))

    def _periods(self) -> list[dict]:
        model = self.model
        bookings = self.column("period_bookings")
        cumulative = np.cumsum(bookings, axis=1)
        won = self.column("period_won")
        width = self.layout.n_open_states
        open_counts = self.column("open_by_state").reshape(self.done, -1, width)
        names = [*model.stage_names, "dormant"]
        periods = []
        for p, label in enumerate(model.calendar.period_labels):
            periods.append(
                {
                    "period": label,
                    "bookings": describe(bookings[:, p], FAN_PERCENTILES),
                    "cumulative_bookings": describe(cumulative[:, p], FAN_PERCENTILES),
                    "won": describe(won[:, p]),
                    "open_by_stage": {
                        name: float(open_counts[:, p, s].mean()) for s, name in enumerate(names)
                    },
                }
            )
        return periods

    def _stall_days(self, total_deals: float) -> dict:
        """Days per deal by cause, pooled over all deals, with the ratio estimator's SE."""
        sums = self.column("stall_sums")
        n = self.column("n_deals")[:, 0]
        out = {}
        for c, cause in enumerate(CAUSES):
            mean, se = ratio_mean_and_se(sums[:, c], n)
            out[cause] = {"mean": 0.0 if total_deals == 0 else mean, "se": se}
        return out

    def _stall_counts(self, total_deals: float) -> dict:
        touched, ended = self.column("touched"), self.column("ended")
        denominator = max(total_deals, 1)
        return {
            cause: {
                "touched_share": float(touched[:, c].sum() / denominator),
                "ended_share": float(ended[:, c].sum() / denominator),
            }
            for c, cause in enumerate(CAUSES)
        }

    def _flows(self) -> dict:
        names = self.model.state_names()
        k = len(names)
        mean = self.column("flows").mean(axis=0).reshape(k, k)
        return {
            src: {dst: float(mean[a, b]) for b, dst in enumerate(names) if mean[a, b] > 0}
            for a, src in enumerate(names)
            if mean[a].sum() > 0
        }


def clean_for_json(value):
    """Round floats to 6 significant digits and turn nan/inf into null, recursively."""
    if isinstance(value, dict):
        return {k: clean_for_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_for_json(v) for v in value]
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            return None
        return float(f"{value:.6g}")
    if isinstance(value, np.integer):
        return int(value)
    return value
