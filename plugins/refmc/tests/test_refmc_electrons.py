"""Electron transport of physics version 3: GEANT4 cuts, MSC tails, Urban fluctuations, annihilation.

Version 2 must stay unchanged: its showers are checked against fingerprints (hit counts exactly,
energy sums and centres to 1e-6; ``conftest.py``) of showers made before the version 3 electron
physics was written.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from calozoo_refmc.materials import MATERIALS, single_slab, slab_stack_from_geometry
from calozoo_refmc.model import simulate_hits
from calozoo_refmc.physics import build_tables, geant4_production_cut_mev
from calozoo_refmc.transport import (
    _annihilation_cross_section,
    _sample_annihilation,
    _single_scattering_tail,
    _urban_fluctuation,
)
from numba import njit

import calozoo

#: (pdg, GeV) -> (hit counts, per shower: deposited energy [MeV], its centre x, y, z [mm] and mean
#: layer, the three tallies [MeV]) of seeds 7, 8, 9 in version 2 (ILD stack, 3.5 T, 17.5 degrees
#: from the normal); the hit counts are those stored before version 3's electron physics.
# fmt: off
V2_REFERENCE = {
    (22, 2.0): ([762, 871, 892], [
        [41.257089, -2.6178605, 15.575631, 46.230148, 6.6069149, 1537.9133, 456.06134, 6.0253529],
        [47.628732, 1.6451681, 20.023577, 68.099014, 10.07668, 1534.2157, 461.25577, 4.5284969],
        [50.60368, -0.61313538, 16.094721, 48.775589, 6.9702321, 1516.8305, 475.84773, 7.321764],
    ]),
    (11, 1.0): ([563, 495, 521], [
        [32.264108, 0.79745736, 9.3508659, 31.17039, 4.2140558, 777.70885, 216.2665, 6.0246481],
        [26.430713, -4.102228, 13.657346, 48.265097, 6.8649704, 756.49268, 242.99632, 0.51099895],
        [26.525591, -2.7568737, 15.693845, 47.062984, 6.7273814, 770.03837, 226.42262, 3.53901],
    ]),
    (-11, 0.5): ([264, 174, 165], [
        [14.8509, -2.0551285, 9.6265109, 35.735984, 5.0093044, 383.62913, 116.60642, 0.78644473],
        [10.642214, 5.5527483, 20.136742, 53.725799, 7.8741902, 383.80264, 116.53953, 0.67982193],
        [9.4931892, 2.1636733, 13.523151, 31.680969, 4.1793028, 380.86564, 116.22181, 3.934546],
    ]),
}
# fmt: on


@pytest.fixture(scope="module")
def ild_stack():
    return slab_stack_from_geometry(calozoo.geometry("ild-ecal-regular"))


@pytest.mark.parametrize("key", sorted(V2_REFERENCE))
def test_version_2_showers_unchanged(ild_stack, key, fingerprints):
    pdg, energy = key
    tables = build_tables(ild_stack, physics_version=2)
    direction = np.array([0.0, 0.3, 0.95]) / np.linalg.norm([0.0, 0.3, 0.95])
    hits, tallies = simulate_hits(
        ild_stack, tables, np.full(3, energy), np.tile(direction, (3, 1)), pdg, [7, 8, 9], 3.5
    )
    fingerprints.assert_showers(hits, tallies, *V2_REFERENCE[key])


def test_geant4_cuts_per_material():
    # GEANT4 11 converts 0.7 mm in water into 2.5252 keV photons and 277.63 keV electrons; our
    # materials are single effective atoms, so check the conversion on water's two elements there
    # and the orders of magnitude the GEANT4 tables give for W and Si
    w, si = MATERIALS["W"], MATERIALS["Si"]
    assert geant4_production_cut_mev(w, "gamma") == pytest.approx(0.1, rel=0.1)
    assert 1.0 < geant4_production_cut_mev(w, "e-") < 2.0
    assert geant4_production_cut_mev(si, "gamma") == pytest.approx(0.006, rel=0.15)
    assert 0.35 < geant4_production_cut_mev(si, "e-") < 0.6
    assert geant4_production_cut_mev(MATERIALS["air"], "e-") == pytest.approx(0.001, rel=0.02)
    tables = build_tables(single_slab("W", 1.0), physics_version=3)
    assert tables.params[0, 3] == pytest.approx(geant4_production_cut_mev(w, "e-"))
    assert tables.params[0, 5] == pytest.approx(geant4_production_cut_mev(w, "gamma"))
    assert tables.params[0, 4] == pytest.approx(0.001)


@njit(cache=True)
def _urban_mean(mean_loss, tcut, i_mev, n):
    total = 0.0
    for _ in range(n):
        total += _urban_fluctuation(mean_loss, tcut, i_mev)
    return total / n


def test_urban_fluctuation_keeps_the_mean():
    np.random.seed(3)
    for mean_loss, tcut in ((0.15, 0.42), (0.01, 0.42), (1.0, 1.6), (0.002, 0.05)):
        assert _urban_mean(mean_loss, tcut, 173e-6, 20000) == pytest.approx(mean_loss, rel=0.02)


def test_mip_in_silicon_version_3_has_landau_peak_and_tail():
    stack = single_slab("Si", 0.525)
    tables = build_tables(stack, physics_version=3)
    hits, _ = simulate_hits(
        stack, tables, np.full(2000, 1.0), np.tile([0, 0, 1.0], (2000, 1)), 11, np.arange(2000), 0.0
    )
    deposit = np.array([h[:, 3].sum() for h in hits])
    counts, edges = np.histogram(deposit, bins=np.arange(0.0, 0.6, 0.005))
    most_probable = (
        0.5 * (edges[:-1] + edges[1:])[np.argmax(np.convolve(counts, np.ones(3) / 3, mode="same"))]
    )
    assert most_probable == pytest.approx(0.15, abs=0.02)
    assert deposit.mean() > 1.15 * most_probable
    assert np.mean(deposit > 2 * most_probable) > 0.03


def _foil_angles(energy_gev, thickness_mm, n, version):
    """Polar angles (rad) of e− after a W foil, from their hits on a thin Si plane 200 mm behind."""
    from calozoo_refmc.materials import _stack

    stack = _stack([("W", thickness_mm, None), ("air", 200.0, None), ("Si", 0.01, 0)])
    tables = build_tables(stack, physics_version=version)
    hits, _ = simulate_hits(
        stack, tables, np.full(n, energy_gev), np.tile([0, 0, 1.0], (n, 1)), 11, np.arange(n), 0.0
    )
    angles = []
    for h in hits:
        if len(h):
            j = np.argmax(h[:, 3] > 0)  # the first deposit on the plane: the primary (delta rays are slower)
            angles.append(math.atan(math.hypot(h[j, 0], h[j, 1]) / (200.0 + thickness_mm / 2)))
    return np.array(angles)


def test_thin_tungsten_foil_core_matches_highland_and_tail_is_rutherford():
    energy, thickness = 0.1, 0.35  # 100 MeV electrons, 0.1 X0
    p = math.sqrt(energy * 1000 * (energy * 1000 + 2 * 0.511))
    xr = thickness / MATERIALS["W"].x0_mm
    theta0 = 13.6 / p * math.sqrt(xr) * (1 + 0.038 * math.log(xr))  # Highland, PDG eq. 34.15
    angles = _foil_angles(energy, thickness, 6000, 3)
    # core: the projected width from the space angle's Rayleigh distribution within 2 θ0
    core = angles[angles < 2.5 * theta0]
    width = math.sqrt(np.mean(core**2) / 2 / (1 - 2.5**2 / 2 / (math.exp(2.5**2 / 2) - 1)))
    assert width == pytest.approx(theta0, rel=0.10)
    # tail: more beyond 3 θ0 than version 2's Gaussian (whose tail there comes from electrons that
    # radiated in the foil), falling as 1/θ^4 (dN/dθ ∝ θ^-3)
    gauss = _foil_angles(energy, thickness, 6000, 2)
    assert np.mean(angles > 3 * theta0) > 1.4 * np.mean(gauss > 3 * theta0)
    assert np.mean(angles > 4 * theta0) > 0.003
    n3, n6 = np.sum(angles > 3 * theta0), np.sum(angles > 6 * theta0)
    # for dN/dθ ∝ θ^-3 the count above θ falls as θ^-2: a factor 4 from 3 θ0 to 6 θ0
    assert 2.0 < n3 / max(n6, 1) < 8.0


@njit(cache=True)
def _annihilation_energy_conserved(t, n):
    worst = 0.0
    for _ in range(n):
        eps, cost = _sample_annihilation(t)
        k1 = eps * (t + 2 * 0.51099895)
        k2 = t + 2 * 0.51099895 - k1
        p0 = math.sqrt(t * (t + 2 * 0.51099895))
        sint = math.sqrt(max(0.0, 1 - cost * cost))
        # momentum of the second photon must equal its energy (massless)
        p2 = math.sqrt((p0 - k1 * cost) ** 2 + (k1 * sint) ** 2)
        worst = max(worst, abs(p2 - k2) / k2)
    return worst


def test_annihilation_in_flight():
    n_e = MATERIALS["W"].electron_density_per_mm3
    # Heitler's cross section vanishes at rest and falls with energy above ~1 MeV
    assert _annihilation_cross_section(0.0, n_e) == 0.0
    assert _annihilation_cross_section(10.0, n_e) < _annihilation_cross_section(1.0, n_e)
    assert _annihilation_energy_conserved(5.0, 2000) < 1e-9
    stack = single_slab("W", 20.0)
    for version in (2, 3):
        tables = build_tables(stack, physics_version=version)
        _, tallies = simulate_hits(
            stack, tables, np.full(200, 0.02), np.tile([0, 0, 1.0], (200, 1)), -11, np.arange(200), 0.0
        )
        assert np.allclose(tallies.sum(1), 20.0 + 2 * 0.51099895, rtol=1e-12)


def test_wentzel_tail_counts_scale_with_step():
    n1, *_ = _single_scattering_tail(100.0, 74.0, 6.3e19, 0.1, 0.05)
    n2, *_ = _single_scattering_tail(100.0, 74.0, 6.3e19, 0.2, 0.05)
    assert n2 == pytest.approx(2 * n1)
