"""The ILD surroundings (TPC field cage, SET, HCAL) of physics version 3; version 2's stack untouched."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

calozoo = pytest.importorskip("calozoo")

from calozoo_refmc.materials import COMPOSITION, MATERIALS, slab_stack_from_geometry  # noqa: E402
from calozoo_refmc.model import ReferenceMC, simulate_hits, stack_with_surroundings  # noqa: E402
from calozoo_refmc.physics import Cuts, build_tables  # noqa: E402


def _stack_digest(stack) -> str:
    h = hashlib.sha256(np.ascontiguousarray(stack.boundaries_mm, np.float64).tobytes())
    h.update("|".join(stack.materials).encode())
    h.update(np.ascontiguousarray(stack.layer, np.int32).tobytes())
    return h.hexdigest()


def _showers(stack, tables, energy, seeds):
    return simulate_hits(stack, tables, [energy] * len(seeds), [[0, 0, 1.0]] * len(seeds), 22, seeds)


@pytest.fixture(scope="module")
def geometry():
    return calozoo.geometry("ild-ecal-regular")


def test_version_2_transports_the_old_stack(geometry):
    model = ReferenceMC(output="raw", physics_version=2)
    bare = slab_stack_from_geometry(geometry)
    assert _stack_digest(model.stack) == _stack_digest(bare)
    assert len(model.stack.materials) == 302 and model.stack.boundaries_mm[0] == 0.0
    assert model.stack.depth_mm == pytest.approx(223.2, abs=1e-9)
    assert set(model.stack.materials) <= {
        "W", "Si", "Cu", "Al", "air", "polystyrene", "carbon fibre", "ground/HV mix"
    }  # fmt: skip
    # the showers of test_refmc_photons.test_version_2_unchanged, bit for bit, through the model's own stack
    hits, tallies = _showers(model.stack, model.tables, 10.0, [1, 2, 3])
    bare_hits, bare_tallies = _showers(bare, build_tables(bare, Cuts(), 2), 10.0, [1, 2, 3])
    assert [len(h) for h in hits] == [4465, 3907, 4268]
    assert all(np.array_equal(a, b) for a, b in zip(hits, bare_hits, strict=True))
    np.testing.assert_array_equal(tallies, bare_tallies)
    with pytest.raises(ValueError, match="physics_version >= 3"):
        ReferenceMC(output="raw", physics_version=2, surroundings=True)
    assert "surroundings" not in model.get_config()


def test_surroundings_only_in_version_3(geometry):
    bare = ReferenceMC(output="raw", physics_version=3)
    assert _stack_digest(bare.stack) == _stack_digest(slab_stack_from_geometry(geometry))
    model = ReferenceMC(output="raw", physics_version=3, surroundings=True)
    assert model.get_config()["surroundings"] is True
    front, back = geometry.surroundings
    st = model.stack
    nf = len(front)
    assert len(st.materials) == nf + 302 + len(back)
    # the ECAL in the middle, untouched, its front face at depth 0
    np.testing.assert_array_equal(st.boundaries_mm[nf : nf + 303], bare.stack.boundaries_mm)
    assert st.materials[nf : nf + 302] == bare.stack.materials
    np.testing.assert_array_equal(st.layer[nf : nf + 302], bare.stack.layer)
    assert np.all(st.layer[:nf] == -1) and np.all(st.layer[nf + 302 :] == -1)
    assert st.boundaries_mm[0] == pytest.approx(-94.84, abs=1e-6)  # field cage + 35 mm gap
    # 30 mm gap + 8 HCAL layers of 26.5 mm
    assert st.depth_mm == pytest.approx(223.2 + 30 + 8 * 26.5, abs=1e-6)
    assert {"steel", "glass"} <= set(st.materials)


def test_surrounding_materials_are_known(geometry):
    front, back = geometry.surroundings
    for s in (*front, *back):
        assert s.layer is None
        assert s.material in MATERIALS and s.material in COMPOSITION
    for name in ("steel", "glass"):
        assert sum(w for _, w in COMPOSITION[name]) == pytest.approx(1.0, abs=1e-3)
    assert MATERIALS["steel"].x0_mm == pytest.approx(17.6, abs=0.1)  # PDG iron 1.757 cm at 7.874
    x0_front = sum(s.thickness_mm / MATERIALS[s.material].x0_mm for s in front)
    assert 0.01 < x0_front < 0.02  # field cage + SET: 1.4 % X0


def test_showers_with_surroundings():
    model = ReferenceMC(output="raw", physics_version=3, surroundings=True)
    theta = np.radians(20.0)
    d = np.array([[0.0, np.sin(theta), np.cos(theta)]] * 3)
    hits, tallies = simulate_hits(model.stack, model.tables, [2.0] * 3, d, 22, [1, 2, 3])
    np.testing.assert_allclose(tallies.sum(axis=1), 2000.0, rtol=1e-12)
    h = np.concatenate(hits)
    assert h[:, 2].min() >= 0.0 and h[:, 2].max() <= 223.2  # hits only in the ECAL's silicon
    # a tilted shower still enters the front face at x = y = 0 (shifted back from the field cage)
    e = h[:, 3]
    offset = np.sum(e * (h[:, 1] - h[:, 2] * np.tan(theta))) / e.sum()
    assert abs(offset) < 3.0
    with pytest.raises(ValueError, match="passive"):
        stack_with_surroundings(model.geometry, front=[("Si", 0.2, 0)], back=[])
