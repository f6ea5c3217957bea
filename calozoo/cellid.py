"""Cell ids as named bit fields packed into one int64, most significant field first.

A geometry's cells are addressed by a few small integers (a stave, a module, a wafer, a cell
row, a layer ...). :class:`CellIdLayout` packs them into one non-negative ``int64`` per cell, the
``cell_id`` of :class:`~calozoo.interfaces.CellHits`, and unpacks them again; ``-1`` stays the
padding. With fields of 4 or 8 bits, ``hex(cell_id)`` reads field by field.

Example:
    >>> layout = CellIdLayout([("part", 4), ("row", 8), ("layer", 8)])
    >>> ids = layout.encode(part=2, row=[17, 3], layer=29)
    >>> [hex(int(i)) for i in ids]
    ['0x2111d', '0x2031d']
    >>> {k: v.tolist() for k, v in layout.decode([int(ids[0]), -1]).items()}
    {'part': [2, -1], 'row': [17, -1], 'layer': [29, -1]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["CellIdLayout"]


class CellIdLayout:
    """Named fields of given bit widths, packed most significant first into int64 cell ids.

    Args:
        fields: ``(name, bits)`` pairs, most significant first; 64 bits in all at most. Ids stay
            non-negative, so that ``-1`` is free for the padding: with 64 bits the first field
            holds one bit less than its width.

    Raises:
        ValueError: a repeated name, a width below 1, or more than 64 bits in all.
    """

    def __init__(self, fields: Sequence[tuple[str, int]]):
        names = tuple(str(name) for name, _ in fields)
        bits = tuple(int(b) for _, b in fields)
        if len(set(names)) != len(names):
            raise ValueError(f"cell id field names must be distinct, got {names}")
        if any(b < 1 for b in bits) or sum(bits) > 64:
            raise ValueError(f"cell id fields need widths >= 1 and at most 64 bits in all, got {bits}")
        self.names = names
        self.bits = dict(zip(names, bits))
        shifts, shift = {}, sum(bits)
        for name, b in zip(names, bits):
            shift -= b
            shifts[name] = shift
        self.shifts = shifts

    def limit(self, name: str) -> int:
        """The largest value field ``name`` holds."""
        bits = self.bits[name] - (self.shifts[name] + self.bits[name] == 64)  # keep the sign bit free
        return (1 << bits) - 1

    def encode(self, *values, **named) -> np.ndarray:
        """Pack field values (broadcastable integer arrays), positionally in field order or by name.

        Raises:
            ValueError: a field missing or unknown, or a value outside ``[0, 2**bits)``.
        """
        if values and named:
            raise ValueError("give the cell id fields either all by position or all by name")
        if values:
            if len(values) != len(self.names):
                raise ValueError(f"cell ids need {len(self.names)} fields {self.names}, got {len(values)}")
            named = dict(zip(self.names, values))
        if set(named) != set(self.names):
            raise ValueError(f"cell ids need exactly the fields {self.names}, got {tuple(named)}")
        arrays = np.broadcast_arrays(*(np.asarray(named[n], dtype=np.int64) for n in self.names))
        out = np.zeros(arrays[0].shape, dtype=np.int64)
        for name, value in zip(self.names, arrays):
            if np.any((value < 0) | (value > self.limit(name))):
                raise ValueError(f"cell id field {name!r} must lie in [0, {self.limit(name)}]")
            out |= value << self.shifts[name]
        return out

    def field(self, cell_id, name: str) -> np.ndarray:
        """One field of ``cell_id`` (int64 array); ``-1`` (padding) gives ``-1``."""
        ids = np.asarray(cell_id, dtype=np.int64)
        mask = (1 << self.bits[name]) - 1
        return np.where(ids >= 0, (ids >> self.shifts[name]) & mask, -1)

    def decode(self, cell_id) -> dict[str, np.ndarray]:
        """``{field: int64 array}`` of ``cell_id``, every field ``-1`` where the id is ``-1``."""
        return {name: self.field(cell_id, name) for name in self.names}

    def __repr__(self) -> str:
        return "CellIdLayout(" + ", ".join(f"{n}:{b}" for n, b in self.bits.items()) + ")"
