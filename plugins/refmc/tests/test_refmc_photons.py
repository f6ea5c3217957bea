"""Low-energy photon physics of the reference MC's physics version 3 (xraylib tables, calozoo_refmc.photons).

Rayleigh scattering (cross section and form-factor angular distribution), photoabsorption by
element and shell with fluorescence, the Sauter photo-electron direction, Compton scattering
with binding, the version-dependent photon cut, and version 2 unchanged bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

xraylib = pytest.importorskip("xraylib")
numba = pytest.importorskip("numba")

from calozoo_refmc import transport  # noqa: E402
from calozoo_refmc.materials import MATERIALS, _stack  # noqa: E402
from calozoo_refmc.photons import HC_MEV_ANGSTROM, rayleigh_cross_section_from_ff_cm2_g  # noqa: E402
from calozoo_refmc.physics import Cuts, build_tables, photon_cut_mev  # noqa: E402

NAMES = ("W", "air", "polystyrene", "Si")


@pytest.fixture(scope="module")
def tables():
    """Version 3 tables of a stack with one slab of W, air, polystyrene, Si (media 0-3, passive)."""
    stack = _stack([("W", 1.0, None), ("air", 1.0, None), ("polystyrene", 1.0, None), ("Si", 1.0, 0)])
    return build_tables(stack, Cuts(), 3)


@numba.njit
def _draw_rayleigh(n, seed, k, formf, m):
    np.random.seed(seed)
    out = np.empty(n)
    for i in range(n):
        out[i] = transport._sample_rayleigh(k, formf, m)
    return out


@numba.njit
def _draw_compton(n, seed, k, formf, m, bound):
    np.random.seed(seed)
    out = np.empty(n)
    for i in range(n):
        if bound:
            out[i] = transport._sample_compton_bound(k, formf, m)[1]
        else:
            out[i] = transport._sample_compton(k)[1]
    return out


@numba.njit
def _draw_sauter(n, seed, t):
    np.random.seed(seed)
    out = np.empty(n)
    for i in range(n):
        out[i] = transport._sample_sauter(t)
    return out


@numba.njit
def _absorb(n, seed, k, m, low, shells):
    """Per absorption: k − photo-electron energy (the binding), fluorescence energy, energy imbalance."""
    np.random.seed(seed)
    out = np.zeros((n, 3))
    size = 8
    for i in range(n):
        st_kind = np.zeros(size, np.int8)
        st_e = np.zeros(size)
        st_pos = np.zeros((size, 3))
        st_dir = np.zeros((size, 3))
        st_slab = np.zeros(size, np.int32)
        hits = np.zeros((4, 5))
        hits, n_hits, top, local = transport._photoabsorb(
            k, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0, m, -1, np.log(k), low, shells, hits, 0,
            st_kind, st_e, st_pos, st_dir, st_slab, 0, 0.0,
        )  # fmt: skip
        electron = 0.0
        for j in range(top):
            if st_kind[j] == 0:
                out[i, 1] = st_e[j]
            else:
                electron = st_e[j]
        out[i, 0] = k - electron
        out[i, 2] = local + out[i, 1] + electron - k
    return out


def test_rayleigh_cross_section_tungsten(tables):
    rho = MATERIALS["W"].density_g_cm3
    for k in (0.01, 0.03, 0.1, 0.15, 0.3, 0.5):
        table = np.interp(np.log(k), np.log(np.exp(np.linspace(np.log(1e-3), np.log(0.8), 1200))),
                          tables.photon_low[0, 0]) / (0.1 * rho)  # fmt: skip
        assert table == pytest.approx(xraylib.CS_Rayl(74, k * 1e3), rel=2e-3)
        # the distribution the sampler draws from integrates to the same cross section (within 8 %:
        # xraylib's CS_Rayl is its own table, 2-7 % above the integral of FF_Rayl at 0.03-0.5 MeV)
        assert rayleigh_cross_section_from_ff_cm2_g(74, k) == pytest.approx(table, rel=0.08)


def test_rayleigh_angles_follow_form_factor(tables):
    k = 0.1
    cost = _draw_rayleigh(40000, 3, k, tables.photon_formf, 0)
    edges = np.linspace(-1, 1, 41)
    fine = np.linspace(-1, 1, 4001)
    q = k / HC_MEV_ANGSTROM * np.sqrt((1 - fine) / 2)
    pdf = (1 + fine**2) * np.array([xraylib.FF_Rayl(74, qi) for qi in q]) ** 2
    cdf = np.concatenate([[0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(fine))])
    expected = np.diff(np.interp(edges, fine, cdf / cdf[-1])) * len(cost)
    observed = np.histogram(cost, edges)[0]
    ok = expected > 5
    chi2 = np.sum((observed[ok] - expected[ok]) ** 2 / expected[ok])
    assert chi2 / ok.sum() < 2.0, chi2 / ok.sum()
    assert np.mean(cost) == pytest.approx(
        np.sum(0.5 * (fine[1:] + fine[:-1]) * np.diff(cdf)) / cdf[-1], abs=0.01
    )


def test_tungsten_k_fluorescence_yield(tables):
    out = _absorb(20000, 5, 0.1, 0, tables.photon_low, tables.photon_shells)
    assert np.abs(out[:, 2]).max() < 1e-15
    k_shell = np.abs(out[:, 0] - xraylib.EdgeEnergy(74, xraylib.K_SHELL) * 1e-3) < 1e-6
    share = xraylib.CS_Photo_Partial(74, xraylib.K_SHELL, 100.0) / xraylib.CS_Photo(74, 100.0)
    assert k_shell.mean() == pytest.approx(share, abs=0.01)
    fluorescent = (out[k_shell, 1] > 0.057) & (out[k_shell, 1] < 0.0695)
    assert fluorescent.mean() == pytest.approx(0.954, abs=0.006)
    # Kα1 (59.3 keV) / Kα2 (58.0 keV) by radiative rate
    ka1 = np.sum(np.abs(out[k_shell, 1] - xraylib.LineEnergy(74, xraylib.KA1_LINE) * 1e-3) < 1e-6)
    ka2 = np.sum(np.abs(out[k_shell, 1] - xraylib.LineEnergy(74, xraylib.KA2_LINE) * 1e-3) < 1e-6)
    rate = xraylib.RadRate(74, xraylib.KA1_LINE) / xraylib.RadRate(74, xraylib.KA2_LINE)
    assert ka1 / ka2 == pytest.approx(rate, rel=0.06)


def test_photoabsorption_by_element_in_air(tables):
    k = 0.01
    out = _absorb(20000, 7, k, 1, tables.photon_low, tables.photon_shells)
    composition = {6: 0.000124, 7: 0.755268, 8: 0.231781, 18: 0.012827}
    total = sum(w * xraylib.CS_Photo(z, k * 1e3) for z, w in composition.items())
    argon_k = composition[18] * xraylib.CS_Photo_Partial(18, xraylib.K_SHELL, k * 1e3) / total
    found = np.abs(out[:, 0] - xraylib.EdgeEnergy(18, xraylib.K_SHELL) * 1e-3) < 1e-6
    assert found.mean() == pytest.approx(argon_k, abs=4 * np.sqrt(argon_k / len(out)))
    assert 0.05 < argon_k < 0.3  # argon, 1.3 % of the mass, takes a good share of the absorptions
    # attenuation of the medium = the elements' cross sections by mass fraction
    mu = np.interp(np.log(k), np.linspace(np.log(1e-3), np.log(0.8), 1200), tables.photon_low[1, 2])
    assert mu == pytest.approx(total * MATERIALS["air"].density_g_cm3 * 0.1, rel=2e-3)


def test_sauter_photoelectron_direction():
    t = 0.05
    cost = _draw_sauter(40000, 9, t)
    gamma = 1 + t / 0.51099895
    beta = np.sqrt(1 - 1 / gamma**2)
    c = np.linspace(-1, 1, 20001)
    pdf = (1 - c**2) / (1 - beta * c) ** 4 * (1 + 0.5 * gamma * (gamma - 1) * (gamma - 2) * (1 - beta * c))
    mean = np.sum(pdf * c) / np.sum(pdf)
    assert np.mean(cost) == pytest.approx(mean, abs=0.01)
    assert np.mean(cost) > 0.3  # forward-peaked, unlike the isotropic version 2 (mean 0)


def test_compton_binding_suppresses_small_transfers(tables):
    k = 0.02  # 20 keV in tungsten: q of forward scatters below the atom's inverse size
    free = _draw_compton(40000, 11, k, tables.photon_formf, 0, False)
    bound = _draw_compton(40000, 11, k, tables.photon_formf, 0, True)
    forward_free, forward_bound = np.mean(free > 0.9), np.mean(bound > 0.9)
    assert forward_bound < 0.5 * forward_free
    # the cross section falls below Klein–Nishina by the mean S/Z over the free distribution
    q2 = (k / HC_MEV_ANGSTROM) ** 2 * 0.5 * (1 - free)
    acceptance = np.mean(np.interp(q2, tables.photon_formf[0, 0], tables.photon_formf[0, 2]))
    kn = xraylib.CS_KN(k * 1e3) * 74 / xraylib.AtomicWeight(74) * xraylib.AVOGNUM
    assert acceptance == pytest.approx(xraylib.CS_Compt(74, k * 1e3) / kn, rel=0.03)


def test_photon_cut_depends_on_version():
    assert photon_cut_mev(Cuts(), 2) == 0.07
    assert photon_cut_mev(Cuts(), 3) == 0.001
    assert photon_cut_mev(Cuts(photon_cut_mev=0.005), 3) == 0.005
    with pytest.raises(ValueError, match="version 2"):
        photon_cut_mev(Cuts(photon_cut_mev=0.005), 2)
    with pytest.raises(ValueError):
        Cuts(photon_cut_mev=0.0005)


def _showers(stack, tables, energy, pdg, seeds):
    from calozoo_refmc.model import simulate_hits

    return simulate_hits(stack, tables, [energy] * len(seeds), [[0, 0, 1.0]] * len(seeds), pdg, seeds)


#: Fingerprints (``conftest.py``) of version 2's showers as before version 3's photon physics: 10 GeV
#: photons, seeds 1-3, in the ILD stack; 0.3 GeV photons, seeds 7-10, in 40 mm of tungsten.
# fmt: off
V2_ILD_10_GEV = ([4465, 3907, 4268], [
    [239.64901, -0.75710725, -0.43487282, 67.240118, 9.9398526, 7656.4968, 2289.3138, 54.189358],
    [221.62195, 1.1385911, 0.0051821778, 61.888894, 9.0920328, 7673.6991, 2282.6046, 43.696274],
    [233.23704, 0.13145804, 0.17981953, 73.92186, 10.992275, 7655.3625, 2284.8777, 59.759757],
])
V2_TUNGSTEN_300_MEV = ([3657, 2862, 3516, 3572], [
    [288.94816, -0.21233579, 0.71125225, 14.169063, 27.83553, 171.77014, 117.17801, 11.051844],
    [223.61217, -0.45994266, -0.36966991, 24.998333, 49.483108, 134.13879, 89.47339, 76.387825],
    [283.49614, -0.13140047, 0.94277001, 14.569268, 28.647711, 168.59782, 114.89832, 16.503862],
    [286.63109, 1.4673393, -0.33474383, 18.321723, 36.134657, 168.53008, 118.10101, 13.36891],
])
# fmt: on


@pytest.fixture(scope="module")
def ild_stack():
    calozoo = pytest.importorskip("calozoo")
    from calozoo_refmc.materials import slab_stack_from_geometry

    return slab_stack_from_geometry(calozoo.geometry("ild-ecal-regular"))


def test_version_2_unchanged(ild_stack, fingerprints):
    """Showers and tables of version 2 as before version 3's photon physics."""
    from calozoo_refmc.materials import homogeneous_block

    t2 = build_tables(ild_stack, Cuts(), 2)
    np.testing.assert_allclose(
        fingerprints.table(t2.photon), [25616989.458, 3.08305925078e13, 25616989.458, 0], rtol=1e-9
    )
    fingerprints.assert_showers(*_showers(ild_stack, t2, 10.0, 22, [1, 2, 3]), *V2_ILD_10_GEV)
    block = homogeneous_block("W", 40.0, 0.5)
    tables = build_tables(block, Cuts(), 2)
    fingerprints.assert_showers(*_showers(block, tables, 0.3, 22, [7, 8, 9, 10]), *V2_TUNGSTEN_300_MEV)


def test_version_3_bookkeeping(ild_stack):
    t3 = build_tables(ild_stack, Cuts(), 3)
    for energy in (0.0005, 0.05, 5.0):
        _, tallies = _showers(ild_stack, t3, energy, 22, [1, 2, 3])
        np.testing.assert_allclose(tallies.sum(axis=1), energy * 1e3, rtol=1e-12)
