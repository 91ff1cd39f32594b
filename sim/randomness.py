"""Random streams keyed by (replication, purpose, group), never by call order.

Two properties rest on this module:

* Reproducibility whatever the number of worker processes: replication ``r`` always gets the
  streams derived from ``SeedSequence(seed, spawn_key=(r, ...))``, whichever worker runs it.
* Common random numbers for what-if comparisons: deal ``i`` of a group reads row ``i`` of a matrix
  drawn row by row, so the same deal sees the same uniforms for the same decision (its k-th stage
  duration, its k-th exit...) in two scenarios, however many other deals or stages they have.

Creating a numpy Generator costs ~10 us, far too much per deal; one Generator per
(replication, purpose, group) draws a whole matrix in bulk instead.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    """What a stream is used for. The values are part of the reproducibility contract."""

    ARRIVAL_GAPS = 1
    ARRIVAL_THINNING = 2
    STAGE_DURATION = 3
    STAGE_EXIT = 4
    AMOUNT = 5
    BUDGET_FUNDED = 6
    BUDGET_RECHECK = 7
    ROLE_TENURE = 8
    ROLE_CHANGE_EFFECT = 9
    SHOCK_TIMES = 10
    SHOCK_SEVERITY = 11
    SHOCK_EFFECT = 12
    INDICATOR = 13
    PARAMETERS = 14  # a replication's own parameter set (sim.uncertainty), keyed by parameter
    TEAM_EFFORT = 15


class Group(IntEnum):
    """Which deals a per-deal stream covers: the day-0 pipeline or the arrivals."""

    MARKET = 0
    INITIAL = 1
    ARRIVALS = 2


def name_key(name: str) -> int:
    """A stable integer key for a name (a role), so streams follow names, not list positions."""
    return zlib.crc32(name.encode("utf-8"))


def _words(value: int) -> list[int]:
    """A non-negative int as numpy's SeedSequence reads it: 32-bit words, lowest first."""
    if value < 0:
        raise ValueError(f"a random stream key must not be negative, got {value}")
    words = [value & 0xFFFFFFFF]
    value >>= 32
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return words


def _spawn_entropy_head(seed: int) -> list[int]:
    """The seed's words padded with zeros to the pool size, as SeedSequence pads them before
    a spawn key."""
    words = _words(seed)
    return words + [0] * (POOL_SIZE - len(words))


#: numpy's SeedSequence pool size (its default, in 32-bit words).
POOL_SIZE = 4


class Streams:
    """The random streams of one replication.

    Args:
        seed: the run's seed.
        replication: the replication index.
    """

    def __init__(self, seed: int, replication: int):
        self.seed = int(seed)
        self.replication = int(replication)
        self._entropy_head = _spawn_entropy_head(self.seed) + _words(self.replication)

    def generator(self, *key: int) -> np.random.Generator:
        """A Generator for the stream named by ``key`` (purpose, group, and any sub-keys).

        Its state is that of ``SeedSequence(seed, spawn_key=(replication, *key))``; the
        entropy words are assembled here as numpy assembles them for a spawn key (a test holds
        the two equal), because numpy's own assembly from Python ints costs more than half of
        a Generator's making, and a replication makes dozens.
        """
        words = self._entropy_head + [w for part in key for w in _words(int(part))]
        seq = np.random.SeedSequence(np.array(words, dtype=np.uint32))
        return np.random.Generator(np.random.PCG64(seq))

    def uniforms(self, purpose: Purpose, group: Group, rows: int, width: int, *sub: int):
        """A (rows, width) matrix of uniforms in [0, 1); row i is the same for any ``rows`` > i."""
        return self.generator(purpose, group, *sub).random((rows, width))
