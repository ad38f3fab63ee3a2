"""The aiokafka internals the Publisher relies on exist in the installed aiokafka, which is within bounds.

bus/aiokafka_adapter.py is the only module that reaches into aiokafka's private attributes (closing with a
deadline, asking for topics without creating them). An aiokafka release that renames one of them must fail
here, loudly, naming it, and not at some operator's shutdown.
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from typing import Any

import aiokafka
import aiokafka.codec
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import (
    DefaultRecordBatch,
    _DefaultRecordBatchBuilderCython,
    _DefaultRecordBatchBuilderPy,
)

from bus.aiokafka_adapter import _internals, check_internals, producer_kwargs, use_lz4_level
from bus.errors import ConfigError
from bus.settings import Settings

pytestmark = pytest.mark.unit


async def test_every_internal_the_adapter_uses_is_there() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started: no connection is made
    try:
        missing = [name for name, present in _internals(producer).items() if not present]
        assert not missing, f"aiokafka {aiokafka.__version__} changed: {missing}"
        check_internals(producer)
    finally:
        await producer.stop()


async def test_a_missing_internal_is_a_config_error_naming_it() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
    accumulator = producer._message_accumulator
    del producer._message_accumulator  # what a future aiokafka might have renamed
    try:
        with pytest.raises(ConfigError, match=r"_message_accumulator"):
            check_internals(producer)
    finally:
        producer._message_accumulator = accumulator
        await producer.stop()


def test_the_installed_aiokafka_is_within_the_declared_bounds() -> None:
    requirement = next(r for r in metadata.requires("lgsp-bus") or [] if r.startswith("aiokafka"))
    lower = re.search(r">=\s*([0-9.]+)", requirement)
    upper = re.search(r"<\s*([0-9.]+)", requirement)
    assert lower is not None, requirement
    assert upper is not None, f"aiokafka has no upper bound in pyproject.toml: {requirement}"
    installed = _version(aiokafka.__version__)
    assert _version(lower[1]) <= installed < _version(upper[1])


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _batch(builder: type[Any], values: list[bytes]) -> bytes:
    batch = builder(
        magic=2,
        compression_type=DefaultRecordBatch.CODEC_LZ4,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10**7,
    )
    for offset, value in enumerate(values):
        batch.append(
            offset, timestamp=1_796_000_000_000, key=b"k", value=value, headers=[("ce_id", b"%d" % offset)]
        )
    return bytes(batch.build())


def _values(data: bytes) -> list[bytes | None]:
    batch = DefaultRecordBatch(bytearray(data))
    return [record.value for record in batch]


@pytest.mark.parametrize("builder", [_DefaultRecordBatchBuilderCython, _DefaultRecordBatchBuilderPy])
def test_the_lz4_level_is_what_both_batch_builders_compress_with(builder: type[Any]) -> None:
    values = [b'{"province": "H%02d", "status": "RESOLVED", "n": %d}' % (i % 34, i) for i in range(2000)]
    try:
        use_lz4_level(9)  # aiokafka's own level: the same bytes as the unchanged function
        high = _batch(builder, values)
        use_lz4_level(1)
        fast = _batch(builder, values)
    finally:
        use_lz4_level(Settings().producer.lz4_level)
    assert fast != high
    assert _values(fast) == _values(high) == values
    assert high == _batch_with(builder, values, aiokafka.codec.lz4_encode)
    assert fast == _batch_with(builder, values, functools.partial(aiokafka.codec.lz4_encode, level=1))


def _batch_with(builder: type[Any], values: list[bytes], encode: Any) -> bytes:
    import aiokafka.record._crecords.default_records as cython_builder
    import aiokafka.record.default_records as python_builder

    saved = cython_builder.lz4_encode, python_builder.lz4_encode
    cython_builder.lz4_encode = python_builder.lz4_encode = encode
    try:
        return _batch(builder, values)
    finally:
        cython_builder.lz4_encode, python_builder.lz4_encode = saved


def test_producer_settings_set_the_lz4_level() -> None:
    import aiokafka.record.default_records as python_builder

    settings = Settings()
    settings.producer.lz4_level = 4
    try:
        producer_kwargs(settings)
        assert python_builder.lz4_encode.keywords == {"level": 4}
    finally:
        use_lz4_level(Settings().producer.lz4_level)
