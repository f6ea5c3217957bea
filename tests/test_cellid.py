"""Cell ids as named bit fields: what a geometry plugin relies on when it packs its cells."""

import numpy as np
import pytest

from calozoo.cellid import CellIdLayout


def test_fields_round_trip_by_position_and_by_name():
    layout = CellIdLayout([("side", 1), ("row", 7), ("column", 12), ("layer", 6)])
    rng = np.random.default_rng(0)
    fields = {name: rng.integers(0, layout.limit(name) + 1, 500) for name in layout.names}
    ids = layout.encode(**fields)
    assert ids.dtype == np.int64 and np.all(ids >= 0)
    assert np.array_equal(ids, layout.encode(*fields.values()))
    assert len(np.unique(ids)) == len(
        {tuple(v) for v in zip(*fields.values())}
    )  # distinct cells, distinct ids
    decoded = layout.decode(ids)
    assert all(np.array_equal(decoded[k], fields[k]) for k in layout.names)
    assert all(v.tolist() == [-1] for v in layout.decode([-1]).values())  # padding stays padding


def test_a_full_64_bit_layout_keeps_ids_non_negative():
    layout = CellIdLayout([("a", 8)] * 1 + [(f"f{i}", 8) for i in range(7)])
    assert layout.limit("a") == 127 and layout.limit("f0") == 255
    top = layout.encode(127, *([255] * 7))
    assert top > 0 and layout.decode(top)["a"] == 127
    with pytest.raises(ValueError, match=r"'a' must lie in \[0, 127\]"):
        layout.encode(128, *([0] * 7))


def test_bad_layouts_and_values_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="distinct"):
        CellIdLayout([("x", 4), ("x", 4)])
    with pytest.raises(ValueError, match="at most 64 bits"):
        CellIdLayout([("x", 40), ("y", 30)])
    layout = CellIdLayout([("x", 4), ("y", 4)])
    with pytest.raises(ValueError, match=r"'y' must lie in \[0, 15\]"):
        layout.encode(x=1, y=16)
    with pytest.raises(ValueError, match="exactly the fields"):
        layout.encode(x=1)
    with pytest.raises(ValueError, match="either all by position or all by name"):
        layout.encode(1, y=2)
