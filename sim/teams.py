"""Our own people at work in one replication: each team a SimPy resource that deals queue for.

A :class:`Desk` is one team: its people are the slots of a :class:`TeamResource` (a
``simpy.PriorityResource``), served in the team's priority order (first come first served,
largest amount first, or latest stage first; ties first come first served). Headcount changes
on their dates (a roster process): a hire frees a slot for the next deal in the queue at once;
a leaver finishes the deal in hand before the slot closes.

A deal that needs the team requests a person, waits in the queue, holds the person for the
effort (hours at the team's pace: a person's hours run over calendar days) and releases them.
A deal interrupted in the queue (a shock, a new decision-maker) leaves it: no ghost requests;
interrupted at work, it frees the person at once. What the desk did (busy person-days, queue
time, waits, hours per deal) is kept for the results (:class:`TeamRecords`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import simpy
from simpy import Interrupt

from sim.model import TeamModel


class _SortedQueue(list):
    """A priority queue of requests kept in order by insertion (SimPy's sorts the whole list on
    every request, which a queue of hundreds of deals pays for dearly). Equal keys keep their
    arrival order, as in SimPy's stable sort."""

    def __init__(self, maxlen: int | None = None):
        super().__init__()
        self.maxlen = maxlen

    def append(self, item) -> None:
        bisect.insort_right(self, item, key=_request_key)


def _request_key(request):
    return request.key


class _Headcount:
    """A team's people whose number can change while deals use them (mixed into a resource)."""

    def _start_with(self, people: int) -> None:
        self._capacity = people

    def set_capacity(self, people: int) -> None:
        """From now on, ``people``: hires take the next deals in the queue at once; leavers
        finish the deals in hand (no new request is granted until fewer are at work)."""
        hired = people - self._capacity
        self._capacity = people
        for _ in range(max(hired, 0)):  # SimPy grants one queued request per trigger
            self._trigger_put(None)


class TeamResource(_Headcount, simpy.PriorityResource):
    """A team served in a priority order (largest amount or latest stage first)."""

    PutQueue = _SortedQueue

    def __init__(self, env: simpy.Environment, people: int):
        super().__init__(env, capacity=max(people, 1))
        self._start_with(people)


class FifoTeamResource(_Headcount, simpy.Resource):
    """A team served first come, first served: a plain ``Resource`` (the order a priority
    resource with equal priorities keeps too, without a sort key per request)."""

    def __init__(self, env: simpy.Environment, people: int):
        super().__init__(env, capacity=max(people, 1))
        self._start_with(people)


@dataclass
class TeamRecords:
    """What one team did in one replication (days from day 0)."""

    busy: np.ndarray  # (k, 2) [start, end) of each person's stretch of work on a deal
    queued: np.ndarray  # (k, 2) [start, end) of each request's time in the queue
    waits: np.ndarray  # (k, 2) (day the person was free for it, days waited) of served requests
    hours: np.ndarray  # (n,) hours of effort each deal received


class _Service:
    """One request of a deal for a person: in the queue since ``queued``, at work since
    ``started``."""

    __slots__ = ("deal", "queued", "started")

    def __init__(self, deal: int, queued: float):
        self.deal = deal
        self.queued = queued
        self.started: float | None = None


class Desk:
    """One team at work in a replication."""

    def __init__(
        self, env: simpy.Environment, team: TeamModel, n_deals: int, log: list | None = None
    ):
        self.env = env
        self.team = team
        self.log = log  # the replication's event log, if one is kept
        self.cause = f"team:{team.name}"
        self.days_per_hour = team.days_per_hour
        self.people: TeamResource | FifoTeamResource | None = None
        self.fifo = True
        if not team.unlimited:
            self.fifo = team.priority not in ("amount", "stage")
            resource = FifoTeamResource if self.fifo else TeamResource
            self.people = resource(env, team.schedule[0][1])
            if len(team.schedule) > 1:
                env.process(self._roster())
        self.busy: list[tuple[float, float]] = []
        self.queued: list[tuple[float, float]] = []
        self.waits: list[tuple[float, float]] = []
        self.hours = [0.0] * n_deals
        # The services under way, in the order they began: a dict, not a set. The ones still
        # open at the horizon are cut in this order, and the order of the intervals is the
        # order their days are summed in: a set's order (by object address) made the last bits
        # of busy and queue days differ from one run to the next.
        self.open: dict[_Service, None] = {}

    def _roster(self):
        """Headcount changes on their dates."""
        env = self.env
        for day, headcount in self.team.schedule[1:]:
            yield env.timeout(day - env.now)
            self.people.set_capacity(headcount)

    def serve(self, deal: int, state: int, hours: float, priority: float, waiting=None):
        """Queue for a person, hold them for ``hours`` of effort, release them (a generator to
        ``yield from`` in the deal's process).

        Args:
            waiting: the deal's :class:`sim.deal.DealLives` when the client waits for this
                work: the deal's wait for us (its seller_wait phase) ends when the person is
                free. None for work alongside the client's own time.

        An interrupt in the queue or at work ends the service at once and is raised on. In the
        event log, a queue the client waits in is a ``seller_wait``, one alongside the client's
        own time a ``seller_queued``.
        """
        env, log = self.env, self.log
        service = _Service(deal, env.now)
        self.open[service] = None
        request = None
        try:
            if self.people is not None:
                people = self.people
                request = people.request() if self.fifo else people.request(priority=priority)
                if log is not None:
                    queued = "seller_wait" if waiting is not None else "seller_queued"
                    log.append((deal, env.now, queued, state, state, self.cause))
                yield request
            self._start(service)
            if waiting is not None:
                waiting.end_phase(deal)
            if log is not None:
                log.append((deal, env.now, "seller_start", state, state, self.cause))
            yield env.timeout(hours * self.days_per_hour)
        except Interrupt:
            self._close(service, env.now)
            if request is not None:
                request.cancel()  # still queued: leaves the queue
                self.people.release(request)  # at work (or granted this instant): frees them
            if log is not None:
                log.append((deal, env.now, "seller_left", state, state, self.cause))
            raise
        self._close(service, env.now)
        if request is not None:
            self.people.release(request)
        if log is not None:
            log.append((deal, env.now, "seller_done", state, state, self.cause))

    def _start(self, service: _Service) -> None:
        now = self.env.now
        service.started = now
        if now > service.queued:
            self.queued.append((service.queued, now))
        self.waits.append((now, now - service.queued))

    def _close(self, service: _Service, until: float) -> None:
        """End a service's open interval at ``until`` (its end, an interrupt, the horizon)."""
        self.open.pop(service, None)
        if service.started is None:
            if until > service.queued:
                self.queued.append((service.queued, until))
            return
        if until > service.started:
            self.busy.append((service.started, until))
            self.hours[service.deal] += (until - service.started) / self.days_per_hour

    def records(self, horizon: float) -> TeamRecords:
        """What the team did, its services still under way cut at the horizon."""
        for service in list(self.open):
            self._close(service, horizon)
        return TeamRecords(
            busy=np.asarray(self.busy, dtype=float).reshape(-1, 2),
            queued=np.asarray(self.queued, dtype=float).reshape(-1, 2),
            waits=np.asarray(self.waits, dtype=float).reshape(-1, 2),
            hours=np.asarray(self.hours, dtype=float),
        )


def priority_of(team: TeamModel, amount: float, stage: int) -> float:
    """A deal's place in a team's queue (lower first; ties first come, first served)."""
    if team.priority == "amount":
        return -amount
    if team.priority == "stage":
        return -stage
    return 0.0


def overlap_by_period(intervals: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Days of the intervals ``[start, end)`` (k, 2) that fall in each period between
    consecutive ``bounds``: the time integral of how many intervals are under way."""
    if len(intervals) == 0:
        return np.zeros(len(bounds) - 1)
    start, end = intervals[:, :1], intervals[:, 1:]
    lo = np.maximum(start, bounds[None, :-1])
    hi = np.minimum(end, bounds[None, 1:])
    return np.maximum(hi - lo, 0.0).sum(axis=0)
