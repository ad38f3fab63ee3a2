"""The C hashing of the signing tree (``bus/signing/_merkle.c``) against its Python definitions.

``bus.signing.tree`` uses the C module when the install built it (``hatch_build.py``). These tests build it
themselves with the hook's own compile step: where that works, the install must have built it too (a silent
fallback to Python would cost about 1.5 µs per signed or verified record), and the C functions must give the
Python functions' bytes for every input, and refuse what is not a hash.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hatch_build
from bus.signing import tree
from tests.native import compiled

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> ModuleType | None:
    """The C module compiled from this tree by the build hook; None where this machine cannot compile it."""
    return compiled(hatch_build.SOURCE, tmp_path_factory.mktemp("merkle"))


def test_the_install_uses_the_c_hashing_wherever_it_can_be_built(native: ModuleType | None) -> None:
    assert tree.NATIVE is (native is not None), (
        "the hook can build the C hashing here, but the install has not"
    )
    if native is not None:
        assert tree.proofs is not tree.python_proofs
        assert tree.full_leaf_hash is not tree.python_full_leaf_hash


def _built(native: ModuleType | None) -> ModuleType | None:
    """``native``; where nothing compiles, there is nothing to compare: the tree must use its Python code."""
    if native is None:
        assert tree.proofs is tree.python_proofs
        assert tree.full_leaf_hash is tree.python_full_leaf_hash
    return native


_BYTES = st.binary(max_size=600)


@given(st.tuples(_BYTES, _BYTES, _BYTES, _BYTES, _BYTES, _BYTES))
def test_the_c_leaf_is_the_python_leaf(native: ModuleType | None, parts: tuple[bytes, ...]) -> None:
    if (c := _built(native)) is not None:
        assert c.full_leaf_hash(*parts) == tree.python_full_leaf_hash(*parts)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_the_c_node_is_the_python_node(native: ModuleType | None, left: bytes, right: bytes) -> None:
    if (c := _built(native)) is not None:
        assert c.node(left, right) == tree.python_node(left, right)
        assert c.node(left, right) != c.node(right, left) or left == right


@pytest.mark.parametrize("size", [*range(1, 70), 127, 128, 129, 255, 256, 257, 333, 1000, 1025])
def test_the_c_proofs_are_the_python_proofs(native: ModuleType | None, size: int) -> None:
    leaves = [tree.python_node(i.to_bytes(32, "big"), bytes(32)) for i in range(size)]
    if (c := _built(native)) is not None:
        assert c.proofs(leaves) == tree.python_proofs(leaves)
        assert c.proofs(tuple(leaves)) == tree.python_proofs(leaves)  # any sequence


def test_the_c_functions_refuse_what_is_not_a_hash(native: ModuleType | None) -> None:
    c = _built(native)
    if c is None:
        return
    good = bytes(32)
    with pytest.raises(ValueError, match="at least one leaf"):
        c.proofs([])
    for bad in (bytes(31), bytes(33), b""):
        with pytest.raises(ValueError, match="bytes of 32"):
            c.proofs([good, bad])
        with pytest.raises(ValueError, match="bytes of 32"):
            c.node(good, bad)
    with pytest.raises(ValueError, match="bytes of 32"):
        c.proofs([good, bytearray(32)])
    with pytest.raises(TypeError):
        c.proofs(42)
    with pytest.raises(TypeError, match="must be bytes"):
        c.full_leaf_hash(b"", b"", b"", b"", b"", "text")
    with pytest.raises(TypeError, match="6 bytes arguments"):
        c.full_leaf_hash(b"", b"")
