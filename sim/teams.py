"""Our own people at work in one replication: each team a SimPy resource that deals queue for.

A :class:`Desk` is one team: its people are the slots of a ``simpy.PriorityResource``, served in
the team's priority order (first come first served, largest amount first, or latest stage
first; ties first come first served). Headcount changes on their dates: the resource has as
many slots as the team ever has people, and a roster process keeps the slots of people not
(yet, or no longer) there taken by "absence" requests that go before every deal. A leaver
finishes the deal in hand before the slot closes.

A deal that needs the team requests a person, waits in the queue, holds the person for the
effort (hours at the team's pace: a person's hours run over calendar days) and releases them.
A deal interrupted in the queue (a shock, a new decision-maker) leaves it: no ghost requests;
interrupted at work, it frees the person at once. What the desk did (busy person-days, queue
time, waits, hours per deal) is kept for the results (:class:`TeamRecords`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy
from simpy import Interrupt

from sim.model import TeamModel

#: The priority of an absence: before any deal (SimPy serves the lowest number first).
ABSENT = -float("inf")


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
        self.people: simpy.PriorityResource | None = None
        if not team.unlimited:
            self.people = simpy.PriorityResource(env, capacity=max(team.most, 1))
            env.process(self._roster())
        self.busy: list[tuple[float, float]] = []
        self.queued: list[tuple[float, float]] = []
        self.waits: list[tuple[float, float]] = []
        self.hours = [0.0] * n_deals
        self.open: set[_Service] = set()

    def _roster(self):
        """Headcount changes on their dates: absences take the slots of people not there."""
        env, people = self.env, self.people
        absent: list[simpy.Request] = []
        there = self.team.most
        for day, headcount in self.team.schedule:
            if day > env.now:
                yield env.timeout(day - env.now)
            while there > headcount:
                absent.append(people.request(priority=ABSENT))
                there -= 1
            while there < headcount:
                gone = absent.pop()
                gone.cancel()  # not yet free of the deal in hand: no longer waited for
                people.release(gone)
                there += 1

    def serve(
        self,
        deal: int,
        state: int,
        hours: float,
        priority: float,
        granted: Callable[[], None],
        client_waits: bool = True,
    ):
        """Queue for a person, hold them for ``hours`` of effort, release them (a generator to
        ``yield from`` in the deal's process). ``granted`` is called when the person is free.

        An interrupt in the queue or at work ends the service at once and is raised on. In the
        event log, a queue the client waits in is a ``seller_wait``, one alongside the client's
        own time a ``seller_queued``.
        """
        env, log = self.env, self.log
        service = _Service(deal, env.now)
        self.open.add(service)
        request = None
        try:
            if self.people is not None:
                request = self.people.request(priority=priority)
                if log is not None:
                    queued = "seller_wait" if client_waits else "seller_queued"
                    log.append((deal, env.now, queued, state, state, self.cause))
                yield request
            self._start(service)
            granted()
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
        self.open.discard(service)
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
