"""Low-energy photon data of physics version 3, tabulated once from xraylib (per medium, numpy arrays).

xraylib (T. Schoonjans et al., Spectrochim. Acta B 66 (2011) 776; github.com/tschoonj/xraylib)
holds the EPDL97-era photon data GEANT4's Livermore models use: Kissel's photoabsorption and
partial (per-shell) cross sections, the Hubbell et al. form factors and incoherent scattering
functions (J. Phys. Chem. Ref. Data 4 (1975) 471), Krause's fluorescence yields (J. Phys. Chem.
Ref. Data 8 (1979) 307) and the radiative rates and line energies of Elam et al. (Radiat. Phys.
Chem. 63 (2002) 121). Energies in xraylib are keV, cross sections cm²/g, momentum transfer
``q = sin(θ/2) / λ`` in 1/Å.

The tables (``build_photon_tables``) are, per medium of the stack:

- ``lowe (M, 3 + NS, N_LOW)`` on a log grid from 1 keV to :data:`E_XRAYLIB_MEV` (0.8 MeV, where
  xraylib's cross sections end for light elements): attenuation per mm of Rayleigh, bound Compton
  (``CS_Compt``) and photoabsorption (``CS_Photo``), each summed over the elements by mass
  fraction (:data:`calozoo_refmc.materials.COMPOSITION`), then the cumulative fractions of the
  photoabsorption over the medium's ``NS`` (element, shell) channels (K, L1, L2, L3 and the
  rest, from ``CS_Photo_Partial``), padded with 1.
- ``shells (M, NS, 2 + 2 NL)``: per channel the binding energy (MeV; ``EdgeEnergy``), the
  fluorescence yield (``FluorYield``; 0 for "the rest") and ``NL`` pairs (line energy MeV
  ``LineEnergy``, cumulative probability from ``RadRate``).
- ``formf (M, 3, NQ)``: the grid of ``q²`` (1/Å², starting at 0), the cumulative integral
  ``∫₀^{q²} F²(q) dq²`` of the medium's squared form factor (``FF_Rayl``; the atoms' F² added in
  proportion to their number, independent-atom approximation) and the incoherent scattering
  function per electron ``S(q) / Z`` (``SF_Compt``, likewise mixed).
"""

from __future__ import annotations

import re

import numpy as np

from .materials import COMPOSITION, MATERIALS

__all__ = [
    "E_XRAYLIB_MEV",
    "HC_MEV_ANGSTROM",
    "LN_LOW_MIN",
    "LN_LOW_MAX",
    "N_LOW",
    "N_LINES",
    "SHELLS",
    "low_grid",
    "q_grid",
    "build_photon_tables",
    "rayleigh_cross_section_from_ff_cm2_g",
]

#: Upper end of the xraylib tables used (MeV): CS_Photo/CS_Compt/CS_Rayl stop at 800 keV for
#: H and C. Above it the version-2 parametrisations stay (Klein–Nishina, NIST-derived
#: photoabsorption) and Rayleigh scattering falls as 1/E² (its high-energy form: the integral of
#: F² over q² saturates while the solid angle per q² shrinks as 1/E²).
E_XRAYLIB_MEV = 0.8
#: h c in MeV Å (xraylib.KEV2ANGST = 12.398 keV Å): q_max = E / hc at θ = π.
HC_MEV_ANGSTROM = 12.39841930e-3
LN_LOW_MIN, LN_LOW_MAX, N_LOW = np.log(1e-3), np.log(E_XRAYLIB_MEV), 1200
#: Momentum-transfer grid (1/Å), log-spaced, with q = 0 in front.
Q_MIN, Q_MAX, NQ = 1e-4, 1e3, 600
#: Fluorescence lines kept per shell (the strongest by radiative rate; the rest are < 1 %).
N_LINES = 12
#: The shells photoabsorption is split into (xraylib shell constants' names); "rest" is M and up.
SHELLS = ("K", "L1", "L2", "L3")


def low_grid() -> np.ndarray:
    """Energies (MeV) of the low-energy photon grid."""
    return np.exp(np.linspace(LN_LOW_MIN, LN_LOW_MAX, N_LOW))


def q_grid() -> np.ndarray:
    """Momentum transfers q (1/Å) of the form-factor tables, 0 first."""
    return np.concatenate([[0.0], np.exp(np.linspace(np.log(Q_MIN), np.log(Q_MAX), NQ - 1))])


def _xrl():
    import xraylib

    return xraylib


def _shell_lines(z: int, shell: str) -> list[tuple[float, float]]:
    """``(line energy MeV, radiative rate)`` of the lines filling a vacancy in ``shell`` of element ``z``."""
    xrl = _xrl()
    pattern = re.compile(rf"^{shell}[LMNOPQ][1-7]_LINE$")
    lines = []
    for name in dir(xrl):
        if pattern.match(name):
            try:
                rate = xrl.RadRate(z, getattr(xrl, name))
                energy = xrl.LineEnergy(z, getattr(xrl, name)) * 1e-3
            except ValueError:
                continue
            if rate > 0 and energy > 0:
                lines.append((energy, rate))
    lines.sort(key=lambda item: -item[1])
    return lines[:N_LINES]


def _safe(function, *args) -> float:
    try:
        return float(function(*args))
    except ValueError:
        return 0.0


def _element_photo_channels(z: int, energies_kev: np.ndarray):
    """Per shell (K, L1, L2, L3, rest) the photoabsorption cross section (cm²/g) and channel data.

    ``CS_Photo_Partial`` (Kissel's per-shell data) ends at 100–300 keV in xraylib; above its last
    energy a shell keeps its last share of ``CS_Photo`` (the shares are constant to < 1 % there,
    the photo-electric effect being an inner-shell process at high energy).
    """
    xrl = _xrl()
    total = np.array([xrl.CS_Photo(z, e) for e in energies_kev])
    channels = []
    for shell in SHELLS:
        code = getattr(xrl, f"{shell}_SHELL")
        edge = _safe(xrl.EdgeEnergy, z, code)
        if edge <= 0:
            continue
        part = np.zeros_like(total)
        share = 0.0
        for i, e in enumerate(energies_kev):
            if e <= edge:
                continue
            try:
                part[i] = xrl.CS_Photo_Partial(z, code, e)
                share = part[i] / total[i] if total[i] > 0 else 0.0
            except ValueError:  # beyond the partial table: its last share of the total
                part[i] = share * total[i]
        if not np.any(part > 0):
            continue
        lines = _shell_lines(z, shell)
        channels.append((part, edge * 1e-3, _safe(xrl.FluorYield, z, code) if lines else 0.0, lines))
    rest = np.maximum(total - sum(c[0] for c in channels), 0.0)
    outer = _safe(xrl.EdgeEnergy, z, xrl.M1_SHELL) * 1e-3
    channels.append((rest, outer, 0.0, []))  # M and up: binding deposited on the spot
    return total, channels


def rayleigh_cross_section_from_ff_cm2_g(z: int, energy_mev: float, n: int = 4000) -> float:
    """σ_R = π r_e² ∫ (1 + cos²θ) F²(q, Z) dcosθ per gram (the distribution the transport samples)."""
    xrl = _xrl()
    cost = np.linspace(-1, 1, n)
    q = energy_mev / HC_MEV_ANGSTROM * np.sqrt((1 - cost) / 2)
    f2 = np.array([xrl.FF_Rayl(z, qi) for qi in q]) ** 2
    r_e_cm = 2.8179403262e-13
    integrand = (1 + cost**2) * f2
    sigma_atom = np.pi * r_e_cm**2 * np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(cost))
    return sigma_atom * xrl.AVOGNUM * 1e24 / xrl.AtomicWeight(z)


def build_photon_tables(media: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lowe, shells, formf)`` for the materials ``media`` (one row per medium; module docstring)."""
    xrl = _xrl()
    energies_kev = low_grid() * 1e3
    q = q_grid()
    per_medium = []
    for name in media:
        mat = MATERIALS[name]
        rho_per_mm = mat.density_g_cm3 * 0.1  # cm²/g × g/cm³ = 1/cm; 1/mm = 0.1/cm
        rayl = np.zeros(N_LOW)
        compt = np.zeros(N_LOW)
        photo = np.zeros(N_LOW)
        channels = []
        f2 = np.zeros(NQ)
        s_mix = np.zeros(NQ)
        electrons = 0.0
        for z, w in COMPOSITION[name]:
            rayl += w * np.array([xrl.CS_Rayl(z, e) for e in energies_kev])
            compt += w * np.array([xrl.CS_Compt(z, e) for e in energies_kev])
            total, element_channels = _element_photo_channels(z, energies_kev)
            photo += w * total
            channels += [(w * part, *rest) for part, *rest in element_channels]
            atoms = w / xrl.AtomicWeight(z)  # atoms per gram / N_A
            f2 += atoms * np.array([xrl.FF_Rayl(z, qi) for qi in q]) ** 2
            # S(q) ∝ q² below xraylib's first point (q = 1e-3 / Å)
            s_mix += atoms * np.array(
                [xrl.SF_Compt(z, qi) if qi >= 1e-3 else xrl.SF_Compt(z, 1e-3) * (qi / 1e-3) ** 2 for qi in q]
            )
            electrons += atoms * z
        q2 = q**2
        cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (f2[1:] + f2[:-1]) * np.diff(q2))])
        parts = np.array([c[0] for c in channels])
        fractions = np.cumsum(parts, axis=0) / np.maximum(parts.sum(axis=0), 1e-300)
        fractions[-1] = 1.0
        per_medium.append(
            (
                np.stack([rayl * rho_per_mm, compt * rho_per_mm, photo * rho_per_mm]),
                fractions,
                [(c[1], c[2], c[3]) for c in channels],
                np.stack([q2, cumulative, s_mix / electrons]),
            )
        )
    n_s = max(len(p[2]) for p in per_medium)
    lowe = np.ones((len(media), 3 + n_s, N_LOW))
    shells = np.zeros((len(media), n_s, 2 + 2 * N_LINES))
    formf = np.zeros((len(media), 3, NQ))
    for m, (mu, fractions, channel_data, ff) in enumerate(per_medium):
        lowe[m, :3] = mu
        lowe[m, 3 : 3 + len(fractions)] = fractions
        for c, (binding, yield_, lines) in enumerate(channel_data):
            shells[m, c, 0] = binding
            shells[m, c, 1] = yield_
            if lines:
                energy = np.array([e for e, _ in lines])
                rate = np.cumsum([r for _, r in lines])
                shells[m, c, 2::2][: len(lines)] = energy
                shells[m, c, 3::2][: len(lines)] = rate / rate[-1]
                shells[m, c, 3::2][len(lines) :] = 1.0
        formf[m] = ff
    return lowe, shells, formf
