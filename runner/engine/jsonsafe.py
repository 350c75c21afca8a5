"""Parse untrusted JSON without recursing without bound.

Python's json module recurses once per nesting level: 10,000 levels of `[[[[` raise RecursionError,
and values nested a few hundred deep break later code that recurses (copies, serialization). So
the depth is measured on the raw text first (strings skipped) and refused past a limit.
"""
from __future__ import annotations

import json
import re

MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class TooDeep(ValueError):
    """JSON text nests arrays/objects deeper than allowed."""


def nesting_depth(data: bytes | str, stop_at: int | None = None) -> int:
    """How deeply arrays and objects nest in JSON text; stops counting early past `stop_at`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    depth = deepest = 0
    for byte in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += _STEP[byte]
        if depth > deepest:
            deepest = depth
            if stop_at is not None and deepest > stop_at:
                break
    return deepest


def loads(data: bytes | str, max_depth: int = MAX_DEPTH):
    """json.loads that raises TooDeep (a ValueError) instead of recursing past `max_depth`.

    Bytes must be UTF-8 (UnicodeDecodeError otherwise): json.loads would also take UTF-16 and
    UTF-32, whose NUL bytes hide brackets from the depth count."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        nul = data.find(b"\x00")  # valid UTF-8, but never in JSON text: UTF-16 or UTF-32 without a BOM
        if nul >= 0:
            raise UnicodeDecodeError("utf-8", data, nul, nul + 1, "a NUL byte: UTF-16 or UTF-32, not UTF-8")
        data = data.decode("utf-8")
    if nesting_depth(data, stop_at=max_depth) > max_depth:
        raise TooDeep(f"JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:
        raise TooDeep("JSON nests too deeply") from None
