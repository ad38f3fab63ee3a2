"""The aiokafka internals the Publisher relies on exist in the installed aiokafka, which is within bounds.

bus/aiokafka_adapter.py is the only module that reaches into aiokafka's private attributes (closing with a
deadline, asking for topics without creating them). An aiokafka release that renames one of them must fail
here, loudly, naming it, and not at some operator's shutdown.
"""

from __future__ import annotations

import re
from importlib import metadata

import aiokafka
import pytest
from aiokafka import AIOKafkaProducer

from bus.aiokafka_adapter import _internals, check_internals
from bus.errors import ConfigError

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
