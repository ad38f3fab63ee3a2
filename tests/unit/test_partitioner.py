"""bus.partitioner picks the partition aiokafka's (and Java's) default partitioner picks for a key."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from bus.partitioner import murmur2, partition_for

pytestmark = pytest.mark.unit


def _keys() -> list[bytes]:
    rng = random.Random(20251123)
    keys = [rng.randbytes(rng.randrange(0, 80)) for _ in range(5000)]
    keys += [f"H29.99-250701-{n:06d}".encode() for n in range(500)]
    keys += ["000.00.00.G22,2015/09/30,7816/VPCP-TTĐT".encode(), b"", b"\xff" * 7]
    return keys


def test_murmur2_equals_aiokafkas_port_of_javas() -> None:
    assert [murmur2(key) for key in _keys()] == [aiokafka_murmur2(key) for key in _keys()]


@pytest.mark.parametrize(
    ("text", "signed"),
    [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_clients_test_vectors(text: str, signed: int) -> None:
    assert murmur2(text.encode()) == signed % 2**32


@pytest.mark.parametrize("count", [1, 3, 6, 7, 64])
def test_partition_for_equals_aiokafkas_default_partitioner(count: int) -> None:
    partitions = list(range(count))
    default = DefaultPartitioner()
    assert [partition_for(key, partitions) for key in _keys()] == [
        default(key, partitions, partitions) for key in _keys()
    ]
