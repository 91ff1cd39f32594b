"""The random streams: their state is the documented ``SeedSequence(seed, spawn_key=...)``."""

import numpy as np
import pytest

from sim.randomness import Group, Purpose, Streams

SEEDS = [0, 1, 42, 2**32 - 1, 2**32, 2**64 + 7, 2**127, 2**128 + 3, 2**160 + 5]
KEYS = [
    (Purpose.STAGE_DURATION, Group.INITIAL),
    (Purpose.TEAM_EFFORT, Group.ARRIVALS, 3_912_345_678, 0),
    (Purpose.PARAMETERS, Group.MARKET, 2**32 + 1),
    (Purpose.ROLE_TENURE, Group.ARRIVALS, 0, 2**70),
]


def _reference(seed: int, replication: int, key: tuple) -> np.random.Generator:
    seq = np.random.SeedSequence(seed, spawn_key=(replication, *map(int, key)))
    return np.random.Generator(np.random.PCG64(seq))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("replication", [0, 5, 2**32 + 9])
@pytest.mark.parametrize("key", KEYS)
def test_a_stream_is_the_spawn_key_seed_sequence(seed, replication, key):
    made = Streams(seed, replication).generator(*key)
    assert made.bit_generator.state == _reference(seed, replication, key).bit_generator.state


def test_streams_of_different_keys_differ():
    streams = Streams(7, 3)
    first = streams.uniforms(Purpose.AMOUNT, Group.INITIAL, 1, 4)
    assert not np.array_equal(first, streams.uniforms(Purpose.AMOUNT, Group.ARRIVALS, 1, 4))
    assert not np.array_equal(first, Streams(7, 4).uniforms(Purpose.AMOUNT, Group.INITIAL, 1, 4))


def test_a_negative_key_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError):
        Streams(7, 0).generator(Purpose.AMOUNT, -1)
