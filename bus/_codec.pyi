# The C module hatch_build.py builds from _codec.c (absent when the install could not compile it).
from collections.abc import Mapping
from typing import Any

KINDS: tuple[str, ...]

def encode(program: tuple[Any, ...], record: Mapping[str, Any], /) -> bytes: ...
def murmur2(data: bytes, /) -> int: ...
