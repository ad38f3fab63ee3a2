"""The hash tree of a producer batch: RFC 9162 (Certificate Transparency v2) Merkle tree hashing.

One signature covers a batch; each record carries its inclusion proof, so it verifies on its own. Hashes are
SHA-256 with RFC 9162's domain separation (leaf ``0x00``, node ``0x01``): a leaf can never pass for a node.

A record's leaf binds everything the views believe about it: the Kafka key, the identity headers (``ce_id``,
``ce_source``, ``ce_type``, ``ce_time``) and the exact value bytes, each length-prefixed so no field can leak
into its neighbour.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Final

IDENTITY_HEADERS: Final = ("ce_id", "ce_source", "ce_type", "ce_time")
"""The headers a signature binds, in leaf order (after the key, before the value)."""
_ID, _SOURCE, _TYPE, _TIME = IDENTITY_HEADERS
_sha256: Final = hashlib.sha256
_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"
_ABSENT: Final = b"\xff\xff\xff\xff"
_length: Final = struct.Struct(">I").pack
_SIX_PARTS: Final = _LEAF + b"%b%b" * 6
HASH_SIZE: Final = 32
"""Bytes of every leaf and node hash (SHA-256); a proof is a whole number of them."""


def leaf_hash(key: bytes | None, identity: Sequence[bytes | None], value: bytes | None) -> bytes:
    """SHA-256(0x00 || each of key, identity headers, value as 4-byte big-endian length + bytes).

    A missing part (no key, a header absent) is length 0xFFFFFFFF with no bytes: distinct from empty."""
    if key is not None and value is not None and len(identity) == len(IDENTITY_HEADERS):
        ce_id, source, type_, time = identity
        if ce_id is not None and source is not None and type_ is not None and time is not None:
            return full_leaf_hash(key, ce_id, source, type_, time, value)
    return _sha256(_framed((key, *identity, value))).digest()


def leaf_hash_of(key: bytes | None, headers: Mapping[str, bytes], value: bytes | None) -> bytes:
    """:func:`leaf_hash` of a record whose headers are ``headers`` (name to value). The views call it per
    record, so the common case (every part present) goes to :func:`full_leaf_hash` directly."""
    get = headers.get
    ce_id, source, type_, time = get(_ID), get(_SOURCE), get(_TYPE), get(_TIME)
    if key is None or value is None or ce_id is None or source is None or type_ is None or time is None:
        return leaf_hash(key, (ce_id, source, type_, time), value)
    return full_leaf_hash(key, ce_id, source, type_, time, value)


def python_full_leaf_hash(
    key: bytes, ce_id: bytes, source: bytes, type_: bytes, time: bytes, value: bytes
) -> bytes:
    """:func:`leaf_hash` when every part is present, as every record of ours has them: one formatting call
    frames the six parts (the whole leaf 1.4 µs instead of 1.9 through the general path, timeit; it runs once
    per record signed and once per record verified). :func:`full_leaf_hash` is this, or the same in C."""
    return _sha256(
        _SIX_PARTS
        % (
            _length(len(key)),
            key,
            _length(len(ce_id)),
            ce_id,
            _length(len(source)),
            source,
            _length(len(type_)),
            type_,
            _length(len(time)),
            time,
            _length(len(value)),
            value,
        )
    ).digest()


def _framed(parts: Sequence[bytes | None]) -> bytes:
    framed = [_LEAF]
    for part in parts:
        if part is None:
            framed.append(_ABSENT)
        else:
            framed.append(_length(len(part)))
            framed.append(part)
    return b"".join(framed)


def python_node(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): RFC 9162's left subtree size."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of ``leaves`` (at least one)."""
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return python_node(root(leaves[:k]), root(leaves[k:]))


def python_proofs(leaves: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """The root and every leaf's inclusion proof (RFC 9162 section 2.1.3.1), each proof's hashes bottom-up and
    concatenated (as the envelope carries them).

    Built level by level: pairing each level's nodes and carrying an odd last node up unchanged gives RFC
    9162's tree (its left subtree is always the largest power of two), without recursion or copies. The
    proofs are then built top-down: a node's proof is its sibling followed by its parent's proof, so each
    level costs one concatenation per node (about 2n for the whole tree, not n log n); a carried node has no
    sibling at its level and shares its parent's proof."""
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        above = [python_node(level[at], level[at + 1]) for at in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            above.append(level[-1])
        levels.append(above)
    paths = [b""]
    for level in reversed(levels[:-1]):
        paired = len(level) - len(level) % 2
        below = [level[at ^ 1] + paths[at >> 1] for at in range(paired)]
        if paired < len(level):
            below.append(paths[-1])
        paths = below
    return levels[-1][0], paths


full_leaf_hash: Callable[[bytes, bytes, bytes, bytes, bytes, bytes], bytes] = python_full_leaf_hash
_node: Callable[[bytes, bytes], bytes] = python_node
proofs: Callable[[Sequence[bytes]], tuple[bytes, list[bytes]]] = python_proofs
"""The leaf of six present parts, a node, and a batch's root and proofs: the C module ``bus.signing._merkle``
when the install built it (``hatch_build.py``), else the Python functions above. The C code does the same
hashing (OpenSSL's SHA-256) with one call per leaf or per tree: per signed record about 0.7 µs instead of 2.2
(timeit); ``tests/unit/test_merkle_native.py`` holds it to the Python definitions. The C ``node`` and
``proofs`` take only 32-byte hashes, as every leaf and node here is."""
try:
    from bus.signing import _merkle
except ImportError:  # not built: no compiler or OpenSSL headers at install time (hatch_build.py said so)
    NATIVE = False
else:
    NATIVE = True
    full_leaf_hash = _merkle.full_leaf_hash
    _node = _merkle.node
    proofs = _merkle.proofs
HASHING: Final = "c" if NATIVE else "python"
"""Which code hashes the trees, as ``lgsp_build_info{signing_hashes}`` and the bench reports name it."""


def proof_length(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` (``0 <= index < size``) of a tree of ``size``
    leaves holds (RFC 9162 section 2.1.3.1), in closed form.

    Level by level the proof holds the node's sibling, unless the node is the last of an odd-sized level
    and is carried up without one. At level ``l`` the node is ``index >> l`` and the last one
    ``(size - 1) >> l``; they are equal from the first level ``b`` above which every bit of ``index`` and
    ``size - 1`` agrees (``b = (index ^ (size - 1)).bit_length()``), and there the node is carried when it
    is even, that is when that bit of ``size - 1`` is 0. Below ``b`` it always has a sibling. So the count is
    ``b + popcount((size - 1) >> b)``; the tests check it against :func:`proofs` for every position of
    trees of 1 to 257 leaves."""
    last = size - 1
    below = (index ^ last).bit_length()
    return below + (last >> below).bit_count()


def fits(path: bytes, index: int, size: int) -> bool:
    """Whether ``path`` (hashes concatenated) is exactly as long as a proof of ``index`` in ``size``
    leaves."""
    return 0 <= index < size <= MAX_LEAVES and len(path) == HASH_SIZE * proof_length(index, size)


def root_from_proof(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``leaf`` at ``index`` of a tree of ``size`` leaves proves with ``path``; None when the
    proof cannot be one for that position (RFC 9162 section 2.1.3.2)."""
    return walk(leaf, index, size, b"".join(path), None)[0]


NodeKey = int
"""A node of a tree of known size: ``level << LEVEL_SHIFT | index at that level`` (a leaf's key is its index);
``ROOT`` is the root. An int, not a (level, index) tuple: a verifier keeps thousands of nodes per batch, and a
dict of ints and bytes is smaller and is never traversed by the garbage collector."""
LEVEL_SHIFT: Final = 40
MAX_LEAVES: Final = 1 << LEVEL_SHIFT
"""The most leaves a tree may have (far beyond any batch): every node key is then distinct."""
ROOT: Final[NodeKey] = -1


def walk(
    leaf: bytes, index: int, size: int, path: bytes, known: Mapping[NodeKey, bytes] | None
) -> tuple[bytes | None, list[tuple[NodeKey, bytes]]]:
    """:func:`root_from_proof`, stopping early at a node of ``known`` (nodes of the same tree already
    authenticated, with ``ROOT``): reaching an authenticated node proves inclusion, so the rest of a batch
    costs a leaf hash and at most one or two node hashes per record instead of one per level. Returns the
    root (``known[ROOT]`` on an early stop; None if the proof fails or disagrees with ``known``) and the nodes
    met on the way: those computed and the proof's siblings, all authenticated once the walk ends at an
    authenticated node (a sibling record then finds its leaf among them and hashes nothing more).
    ``path`` is the proof's hashes concatenated, as the envelope carries them: a walk that stops early never
    slices the rest. Whatever it reads, a proof must be exactly as long as its position needs (:func:`fits`):
    a padded or truncated proof fails however early the walk would stop."""
    if not fits(path, index, size):
        return None, []
    if known is not None:
        authentic = known.get(index)
        if authentic is not None:
            return (known[ROOT] if authentic == leaf else None), []
    fn, sn, base = index, size - 1, 0  # base: the level's key prefix, level << LEVEL_SHIFT
    current = leaf
    seen: list[tuple[NodeKey, bytes]] = []
    for at in range(0, len(path), HASH_SIZE):
        sibling = path[at : at + HASH_SIZE]
        if sn == 0:
            return None, seen
        if fn & 1 or fn == sn:
            current = _node(sibling, current)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
                    base += MAX_LEAVES
            seen.append((base | (fn - 1), sibling))  # fn is odd now: the sibling is on its left
        else:
            current = _node(current, sibling)
            seen.append((base | (fn + 1), sibling))
        fn >>= 1
        sn >>= 1
        base += MAX_LEAVES
        if known is not None:
            authentic = known.get(base | fn)
            if authentic is not None:
                return (known[ROOT] if authentic == current else None), seen
            seen.append((base | fn, current))
    return (current if sn == 0 else None), seen
