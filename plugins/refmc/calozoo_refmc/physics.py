"""Cross-section and stopping-power tables of the reference Monte Carlo (built once, in numpy).

Every quantity is tabulated per *medium* (a material with its cuts) on a logarithmic energy grid
and interpolated by the compiled transport (:mod:`calozoo_refmc.transport`). Sources:

- Pair production, total cross section: up to 0.5 GeV the fit of L. Urban (GEANT3 manual,
  PHYS211; GEANT4 Physics Reference Manual, "Gamma conversion") to the nuclear + electron-field
  pair cross sections of Hubbell, Gimm & Øverbø (J. Phys. Chem. Ref. Data 9 (1980) 1023), per Z,
  good to a few per cent from 1.5 MeV to 100 GeV; above 2 GeV the screened Bethe–Heitler
  spectrum below, integrated over the energy sharing and normalised to ``7 / (9 X0)`` at
  infinite energy (Tsai, Rev. Mod. Phys. 46 (1974) 815, eq. 3.83); log-linear blend in between
  (the two agree there to about 1 %).
- Pair production, energy sharing: screened Bethe–Heitler with the Thomas–Fermi screening
  functions of Butcher & Messel (Nucl. Phys. 20 (1960) 15) in the form used by GEANT4's
  ``G4BetheHeitlerModel`` and the Davies–Bethe–Maximon Coulomb correction above 50 MeV.
- Compton scattering: Klein–Nishina (free electrons).
- Photoelectric absorption: NIST attenuation of tungsten (see :mod:`calozoo_refmc.materials`),
  scaled to other materials per atom as ``Z^4.5`` (a rough rule: in the light materials Compton
  dominates above the 70 keV photon cut anyway).
- Bremsstrahlung: Bethe–Heitler spectrum with the screening functions Φ1, Φ2 of Butcher & Messel
  as in EGS4 (Nelson, Hirayama, Rogers, SLAC-265 (1985), eq. 2.7.x), normalised so that the
  complete-screening radiative loss is ``E / X0`` (Tsai 1974).
- Ionisation: restricted stopping power of Berger & Seltzer (NBSIR 82-2550; ICRU 37) for
  electrons (Møller) and positrons (Bhabha), with the Sternheimer density effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .materials import (
    AVOGADRO,
    MATERIALS,
    Material,
    SlabStack,
    klein_nishina_cm2_per_electron,
    photoelectric_w_cm2_g,
)

__all__ = [
    "ELECTRON_MASS_MEV",
    "PHYSICS_VERSION",
    "PHYSICS_VERSIONS",
    "check_physics_version",
    "Cuts",
    "Tables",
    "build_tables",
]

ELECTRON_MASS_MEV = 0.51099895
FINE_STRUCTURE = 1 / 137.035999
#: 2π r_e² m_e c² in MeV mm² (prefactor of Møller/Bhabha cross sections and stopping powers).
TWO_PI_MC2_RE2_MEV_MM2 = 2 * np.pi * ELECTRON_MASS_MEV * (2.8179403262e-12) ** 2

#: K-shell binding energies (MeV) of the materials where they matter above the 70 keV photon cut
#: (X-ray data booklet, LBNL); the photo-electron gets the rest, fluorescence is not simulated.
K_SHELL_BINDING_MEV = {"W": 0.069525, "Cu": 0.008979}

#: Raised whenever a change of the physics changes the showers a seed gives. Data sets record it,
#: and a data set folder made with another version is not resumed. 1: the first release;
#: 2: pair cross section from the Hubbell–Gimm–Øverbø data below 0.5 GeV; 3: the low-energy
#: photon and electron physics and the material stack of docs/reference-mc.md, "Physics versions".
PHYSICS_VERSION = 3
#: The versions this installation can simulate (``ReferenceMC(physics_version=...)``): 2 makes
#: the showers the shipped models were trained on.
PHYSICS_VERSIONS = (2, 3)


def check_physics_version(version) -> int:
    """``version`` as an int, or a ValueError saying which versions exist."""
    if (
        isinstance(version, bool)
        or not isinstance(version, (int, np.integer))
        or version not in PHYSICS_VERSIONS
    ):
        raise ValueError(
            f"physics_version must be one of {list(PHYSICS_VERSIONS)} (default {PHYSICS_VERSION}), "
            f"got {version!r}"
        )
    return int(version)


#: GEANT4's default production cut (a range, mm, the same in every material): version 3's cuts.
GEANT4_RANGE_CUT_MM_DEFAULT = 0.7

#: Energy grids (natural log of MeV) shared by all tables.
LN_E_MIN, LN_E_MAX, N_GRID = np.log(1e-3), np.log(2e6), 600


@dataclass(frozen=True)
class Cuts:
    """Production and tracking cuts (MeV, mm) with the defaults of the reference MC.

    GEANT4's default is a 0.7 mm range cut for every material, i.e. about 0.1 MeV photons and
    1 MeV electrons in tungsten. We keep more structure where it is seen (the silicon) and stay
    fast where it is not (the tungsten):

    Attributes:
        photon_cut_mev: photons below this are absorbed on the spot; ``None``: the physics
            version's default (:func:`photon_cut_mev`). Version 2: 70 keV, just above the
            tungsten K edge (its photoelectric parametrisation is valid there; no lower cut is
            allowed); such a photon travels 0.1 mm in tungsten. Version 3: 1 keV (the start of
            its xraylib tables, GEANT4's lowest production threshold 990 eV), so that
            fluorescence and Compton/Rayleigh-scattered photons of 1–70 keV are transported.
        brems_cut_mev: bremsstrahlung photons below this are part of the continuous loss.
        electron_range_cut_mm: electrons whose CSDA range is below this are stopped on the spot;
            0.1 mm gives about 0.25 MeV in tungsten and 0.1 MeV in silicon: such electrons
            cannot reach the next sensor.
        min_electron_cut_mev: floor of the electron tracking cut (light materials and air).
        delta_cut_sensitive_mev: Møller/Bhabha production cut in sensitive slabs. 10 keV is about
            one Landau width ξ of a 0.525 mm silicon sensor: explicit delta rays make the
            Landau tail, the restricted loss below the cut (with Bohr straggling) the peak.
        range_cut_mm: version 3 only, where it replaces ``brems_cut_mev``, ``electron_range_cut_mm``,
            ``min_electron_cut_mev`` and ``delta_cut_sensitive_mev``: GEANT4's production cut, one
            range for every material (0.7 mm, GEANT4's default), converted per material into the
            bremsstrahlung-photon and delta-ray thresholds as GEANT4 does
            (:func:`geant4_production_cut_mev`); e± are then tracked to 1 keV (GEANT4's lowest
            electron energy), or stopped at once where their CSDA range cannot reach the slab's
            boundary.
    """

    photon_cut_mev: float | None = None
    brems_cut_mev: float = 0.1
    electron_range_cut_mm: float = 0.1
    min_electron_cut_mev: float = 0.01
    delta_cut_sensitive_mev: float = 0.01
    range_cut_mm: float = GEANT4_RANGE_CUT_MM_DEFAULT

    def __post_init__(self) -> None:
        if self.photon_cut_mev is not None and not self.photon_cut_mev >= PHOTON_CUT_MIN_MEV[3]:
            raise ValueError(
                f"photon_cut_mev must be >= {PHOTON_CUT_MIN_MEV[3]} MeV (the photon tables start there), "
                f"got {self.photon_cut_mev}"
            )
        for name in (
            "brems_cut_mev",
            "electron_range_cut_mm",
            "min_electron_cut_mev",
            "delta_cut_sensitive_mev",
            "range_cut_mm",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


#: Photon tracking cut (MeV) of each physics version by default, and the lowest one allowed.
PHOTON_CUT_DEFAULT_MEV = {2: 0.07, 3: 0.001}
PHOTON_CUT_MIN_MEV = {2: 0.07, 3: 0.001}


def photon_cut_mev(cuts: Cuts, version: int) -> float:
    """The photon tracking cut of ``cuts`` for physics ``version`` (its default where ``None``).

    Raises:
        ValueError: below what the version's photoabsorption model covers (70 keV in version 2,
            whose parametrisation stops at the W K edge).
    """
    if cuts.photon_cut_mev is None:
        return PHOTON_CUT_DEFAULT_MEV[version]
    if cuts.photon_cut_mev < PHOTON_CUT_MIN_MEV[version]:
        raise ValueError(
            f"photon_cut_mev must be >= {PHOTON_CUT_MIN_MEV[version]} MeV in physics version {version} "
            f"(got {cuts.photon_cut_mev})"
            + (": its photoelectric model stops at the W K edge" if version == 2 else "")
        )
    return float(cuts.photon_cut_mev)


@dataclass(frozen=True)
class Tables:
    """Everything the compiled transport needs, as plain arrays (one row per medium).

    Attributes:
        params: ``(M, 12)`` per medium: X0 [mm], Z, electron density [1/mm³], delta cut,
            electron tracking cut, brems cut, photon cut [MeV], sensitive flag, Bmax (brems
            rejection bound), Coulomb/screening constant ``ln Z / 3 + f_c``, K-shell binding
            energy [MeV] (left on the spot by photoelectric absorption), mean excitation energy
            I [MeV] (version 3's Urban fluctuations).
        photon: ``(M, 3, N)`` attenuation per mm of photoelectric, Compton, pair on the grid.
        electron: ``(M, 5, N)`` restricted dE/dx (MeV/mm) of e−, of e+, brems cross section
            above the cut (1/mm), CSDA range (mm) of e−, of e+ (version 3's range-out stop).
        slab_medium: ``(S,)`` medium of each slab of the stack.
    """

    params: np.ndarray
    photon: np.ndarray
    electron: np.ndarray
    slab_medium: np.ndarray
    #: the physics version the tables and the transport follow (:data:`PHYSICS_VERSIONS`)
    version: int = PHYSICS_VERSION
    #: version 3's low-energy photon tables (:func:`calozoo_refmc.photons.build_photon_tables`:
    #: ``lowe``, ``shells``, ``formf``); placeholders of the right rank in version 2.
    photon_low: np.ndarray = field(default_factory=lambda: np.zeros((1, 4, 2)))
    photon_shells: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 4)))
    photon_formf: np.ndarray = field(default_factory=lambda: np.zeros((1, 3, 2)))


# ---------------------------------------------------------------- helpers
def grid() -> np.ndarray:
    """The energies (MeV) of the table grid."""
    return np.exp(np.linspace(LN_E_MIN, LN_E_MAX, N_GRID))


def coulomb_correction(z: float) -> float:
    """Davies–Bethe–Maximon Coulomb correction ``f_c(Z)`` (PDG eq. 34.27)."""
    a2 = (FINE_STRUCTURE * z) ** 2
    return a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)


def pair_screen_1(delta):
    """``3Φ1 − Φ2``-type screening function of G4BetheHeitlerModel (Butcher & Messel)."""
    return np.where(
        delta > 1, 42.24 - 8.368 * np.log(delta + 0.952), 42.392 - delta * (7.796 - 1.961 * delta)
    )


def pair_screen_2(delta):
    """``1.5Φ1 + 0.5Φ2``-type screening function of G4BetheHeitlerModel."""
    return np.where(
        delta > 1, 42.24 - 8.368 * np.log(delta + 0.952), 41.405 - delta * (5.828 - 0.8945 * delta)
    )


def pair_fz(z: float, k_mev):
    """``F(Z) = 8 (ln Z / 3 + f_c)``, the Coulomb correction applied above 50 MeV (GEANT4's choice)."""
    return 8 * (np.log(z) / 3 + np.where(np.asarray(k_mev) > 50.0, coulomb_correction(z), 0.0))


def pair_sharing_density(eps, k_mev, z: float):
    """Unnormalised screened Bethe–Heitler density of the electron's energy fraction ``eps``."""
    fz = pair_fz(z, k_mev)
    delta = 136.0 * ELECTRON_MASS_MEV / k_mev / z ** (1 / 3) / (eps * (1 - eps))
    f1 = np.maximum(pair_screen_1(delta) - fz, 0.0)
    f2 = np.maximum(pair_screen_2(delta) - fz, 0.0)
    return (eps - 0.5) ** 2 * f1 + 0.5 * f2


#: Coefficients (µb) of the fit σ(Z, k) = Z (Z + 1) [F1(X) + Z F2(X) + F3(X) / Z], with
#: X = ln(k / m_e c²) and F_i(X) = Σ_j c_ij X^j, to the pair cross sections (nuclear and
#: electron field) of Hubbell, Gimm & Øverbø 1980, as published in the GEANT3 manual (PHYS211).
PAIR_FIT_MICROBARN = np.array(
    [
        [8.7842e2, -1.9625e3, 1.2949e3, -2.0028e2, 1.2575e1, -2.8333e-1],
        [-1.0342e1, 1.7692e1, -8.2381, 1.3063, -9.0815e-2, 2.3586e-3],
        [-4.5263e2, 1.1161e3, -8.6749e2, 2.1773e2, -2.0467e1, 6.5372e-1],
    ]
)
#: The fit holds from here up; below, it is scaled as (k − 2 m_e)² to threshold (as GEANT does).
PAIR_FIT_LOW_MEV = 1.5
#: Between these photon energies (MeV) the fit hands over to the screened spectrum's integral.
PAIR_BLEND_MEV = (500.0, 2000.0)


def pair_cross_section_fit_mm2(z: float, k_mev) -> np.ndarray:
    """Pair cross section per atom (mm²) of Hubbell, Gimm & Øverbø's data, Urban's fit (1.5 MeV–100 GeV)."""
    k = np.asarray(k_mev, dtype=np.float64)
    x = np.log(np.maximum(k, PAIR_FIT_LOW_MEV) / ELECTRON_MASS_MEV)
    f1, f2, f3 = np.polynomial.polynomial.polyval(x, PAIR_FIT_MICROBARN.T)
    sigma = z * (z + 1) * (f1 + z * f2 + f3 / z) * 1e-28  # 1 µb = 1e-28 mm²
    threshold = 2 * ELECTRON_MASS_MEV
    rise = np.clip((k - threshold) / (PAIR_FIT_LOW_MEV - threshold), 0.0, None) ** 2
    return np.where(k < PAIR_FIT_LOW_MEV, sigma * rise, sigma) * (k > threshold)


def pair_screened_attenuation_per_mm(material: Material, k_mev: np.ndarray) -> np.ndarray:
    """Integral of the sampled screened spectrum (1/mm), normalised to 7/(9 X0) at infinite energy."""
    k = np.asarray(k_mev, dtype=np.float64)
    out = np.zeros_like(k)
    u = (np.arange(400) + 0.5) / 400
    for i, ki in enumerate(k):
        if ki <= 2 * ELECTRON_MASS_MEV * 1.0001:
            continue
        eps0 = ELECTRON_MASS_MEV / ki
        eps = eps0 + (1 - 2 * eps0) * u
        out[i] = (1 - 2 * eps0) * np.mean(pair_sharing_density(eps, ki, material.z))
    # complete screening, with the Coulomb correction: ∫ (ε−½)² F1 + F2/2 dε = F1/12 + F2/2
    fz = pair_fz(material.z, 1e9)
    asymptote = (42.392 - fz) / 12 + (41.405 - fz) / 2
    return 7 / 9 / material.x0_mm * out / asymptote


def pair_attenuation_per_mm(material: Material, k_mev: np.ndarray) -> np.ndarray:
    """Pair-production attenuation (1/mm): data fit below 0.5 GeV, 7/(9 X0)-normalised spectrum above 2 GeV.

    The integral of the sampled spectrum alone overshoots the data by 8–15 % between 10 and
    50 MeV in tungsten (the Coulomb correction of the sampling starts at 50 MeV), which made
    photon showers start their last generations too early.
    """
    k = np.asarray(k_mev, dtype=np.float64)
    fit = pair_cross_section_fit_mm2(material.z, k) * material.atom_density_per_mm3
    lo, hi = np.log(PAIR_BLEND_MEV)
    weight = np.clip((np.log(np.maximum(k, 1e-30)) - lo) / (hi - lo), 0.0, 1.0)
    high = np.zeros_like(k)
    need = weight > 0
    high[need] = pair_screened_attenuation_per_mm(material, k[need])
    return (1 - weight) * fit + weight * high


def brems_phi(delta):
    """EGS4 screening functions ``(Φ1, Φ2)`` of Butcher & Messel."""
    far = 21.12 - 4.184 * np.log(delta + 0.952)
    phi1 = np.where(delta > 1, far, 20.867 - 3.242 * delta + 0.625 * delta**2)
    phi2 = np.where(delta > 1, far, 20.029 - 1.930 * delta - 0.086 * delta**2)
    return phi1, phi2


def brems_shape(y, total_energy_mev, z: float, c: float):
    """``k dσ/dk`` up to the constant: ``[1+(1−y)²](Φ1/4 − c) − ⅔(1−y)(Φ2/4 − c)``, y = k/E."""
    delta = 136.0 * ELECTRON_MASS_MEV / z ** (1 / 3) * y / (total_energy_mev * (1 - y))
    phi1, phi2 = brems_phi(delta)
    return np.maximum((1 + (1 - y) ** 2) * (phi1 / 4 - c) - 2 / 3 * (1 - y) * (phi2 / 4 - c), 0.0)


def brems_norm(c: float) -> float:
    """``∫₀¹ shape dy`` at complete screening: dσ/dk = shape / (norm X0 k) gives dE/dx = E/X0."""
    return 4 / 3 * (20.867 / 4 - c) - 1 / 3 * (20.029 / 4 - c)


def brems_tables(material: Material, cut_mev: float, t_mev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bremsstrahlung cross section above ``cut_mev`` (1/mm) and radiative loss below it (MeV/mm)."""
    c = np.log(material.z) / 3 + coulomb_correction(material.z)
    norm = brems_norm(c) * material.x0_mm
    sigma, loss = np.zeros_like(t_mev), np.zeros_like(t_mev)
    u = (np.arange(200) + 0.5) / 200
    for i, t in enumerate(t_mev):
        e = t + ELECTRON_MASS_MEV
        kmax_low = min(cut_mev, t)
        # loss below the cut: ∫₀^kc shape/(norm) dk, linear grid in k
        k = kmax_low * u
        loss[i] = kmax_low * np.mean(brems_shape(k / e, e, material.z, c)) / norm
        if t > cut_mev:
            k = cut_mev * (t / cut_mev) ** u  # log grid: ∫ shape/k dk = ln(T/kc) <shape>
            sigma[i] = np.log(t / cut_mev) * np.mean(brems_shape(k / e, e, material.z, c)) / norm
    return sigma, loss


def density_effect(material: Material, beta_gamma):
    """Sternheimer density-effect correction δ(βγ) (Sternheimer, Berger & Seltzer 1984)."""
    cbar, x0, x1, a, k, delta0 = material.sternheimer
    x = np.log10(beta_gamma)
    mid = 2 * np.log(10) * x - cbar + a * np.clip(x1 - x, 0, None) ** k
    return np.where(x >= x1, 2 * np.log(10) * x - cbar, np.where(x >= x0, mid, delta0 * 10 ** (2 * (x - x0))))


def restricted_dedx(material: Material, t_mev, cut_mev: float, positron: bool) -> np.ndarray:
    """Restricted collision stopping power (MeV/mm) of Berger & Seltzer for e− (Møller) or e+ (Bhabha)."""
    t = np.asarray(t_mev, dtype=np.float64)
    tau = t / ELECTRON_MASS_MEV
    gam = tau + 1
    bg2 = tau * (tau + 2)
    beta2 = bg2 / gam**2
    eexc2 = (material.i_ev * 1e-6 / ELECTRON_MASS_MEV) ** 2
    tmax = t if positron else 0.5 * t
    d = np.minimum(cut_mev, tmax) / ELECTRON_MASS_MEV
    if positron:
        d2 = d * d * 0.5
        d3 = d2 * d / 1.5
        d4 = d3 * d * 0.75
        y = 1 / (1 + gam)
        f = (
            np.log(tau * d)
            - beta2 * (tau + 2 * d - y * (3 * d2 + y * (d - d3 + y * (d2 - tau * d3 + d4)))) / tau
        )
    else:
        f = (
            -1
            - beta2
            + np.log((tau - d) * d)
            + tau / (tau - d)
            + (0.5 * d * d + (2 * tau + 1) * np.log1p(-d / tau)) / gam**2
        )
    dedx = np.log(2 * (tau + 2) / eexc2) + f - density_effect(material, np.sqrt(bg2))
    dedx *= TWO_PI_MC2_RE2_MEV_MM2 * material.electron_density_per_mm3 / beta2
    return np.maximum(dedx, 0.0)


def electron_cut_from_range(
    material: Material, range_mm: float, floor_mev: float, t_mev: np.ndarray
) -> float:
    """Kinetic energy (MeV) whose CSDA range (unrestricted collision + radiative loss) is ``range_mm``."""
    dedx = restricted_dedx(material, t_mev, 1e9, positron=False)
    _, rad = brems_tables(material, 1e9, t_mev)
    total = dedx + rad
    inv = 1 / total
    ranges = np.concatenate(
        [[t_mev[0] * inv[0]], t_mev[0] * inv[0] + np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(t_mev))]
    )
    return float(max(np.interp(range_mm, ranges, t_mev), floor_mev))


def build_tables(stack: SlabStack, cuts: Cuts = Cuts(), physics_version: int = PHYSICS_VERSION) -> Tables:
    """Tables for every medium (material × sensitive) of ``stack`` with ``cuts``, for ``physics_version``."""
    version = check_physics_version(physics_version)
    media: list[tuple[str, bool]] = []
    slab_medium = np.empty(len(stack.materials), dtype=np.int32)
    for i, (name, layer) in enumerate(zip(stack.materials, stack.layer)):
        key = (name, bool(layer >= 0))
        if key not in media:
            media.append(key)
        slab_medium[i] = media.index(key)

    energies = grid()
    fine = np.exp(np.linspace(np.log(1e-3), np.log(20.0), 400))
    params = np.zeros((len(media), 12))
    photon = np.zeros((len(media), 3, N_GRID))
    electron = np.zeros((len(media), 5, N_GRID))
    w = MATERIALS["W"]
    for m, (name, sensitive) in enumerate(media):
        mat = MATERIALS[name]
        e_cut = electron_cut_from_range(mat, cuts.electron_range_cut_mm, cuts.min_electron_cut_mev, fine)
        delta_cut = cuts.delta_cut_sensitive_mev if sensitive else e_cut
        brems_cut = cuts.brems_cut_mev
        if version >= 3:  # GEANT4's production thresholds from one range cut; tracked down to 1 keV
            delta_cut = geant4_production_cut_mev(mat, "e-", cuts.range_cut_mm)
            brems_cut = geant4_production_cut_mev(mat, "gamma", cuts.range_cut_mm)
            e_cut = GEANT4_LOWEST_ELECTRON_MEV
        c = np.log(mat.z) / 3 + coulomb_correction(mat.z)
        bmax = 2 * (20.867 / 4 - c) - 2 / 3 * (20.029 / 4 - c)
        params[m] = [
            mat.x0_mm,
            mat.z,
            mat.electron_density_per_mm3,
            delta_cut,
            e_cut,
            brems_cut,
            photon_cut_mev(cuts, version),
            float(sensitive),
            bmax,
            c,
            K_SHELL_BINDING_MEV.get(name, 0.0),
            mat.i_ev * 1e-6,
        ]
        # photons: photoelectric per atom scaled from tungsten as Z^4.5
        pe_per_atom_mm2 = photoelectric_w_cm2_g(energies) * 100 * (183.84 / AVOGADRO) * (mat.z / w.z) ** 4.5
        photon[m, 0] = pe_per_atom_mm2 * mat.atom_density_per_mm3
        photon[m, 1] = klein_nishina_cm2_per_electron(energies) * 100 * mat.electron_density_per_mm3
        photon[m, 2] = pair_attenuation_per_mm(mat, energies)
        sigma_b, rad_loss = brems_tables(mat, brems_cut, energies)
        electron[m, 0] = restricted_dedx(mat, energies, delta_cut, positron=False) + rad_loss
        electron[m, 1] = restricted_dedx(mat, energies, delta_cut, positron=True) + rad_loss
        electron[m, 2] = sigma_b
        electron[m, 3] = csda_range_mm(mat, energies, positron=False)
        electron[m, 4] = csda_range_mm(mat, energies, positron=True)
    if version < 3:
        return Tables(params, photon, electron, slab_medium, version)
    from .photons import build_photon_tables

    low, shells, formf = build_photon_tables([name for name, _ in media])
    return Tables(params, photon, electron, slab_medium, version, low, shells, formf)


# ---------------------------------------------------------------- GEANT4 production cuts (version 3)
#: GEANT4's default production cut, a range (mm), the same for every material.
GEANT4_RANGE_CUT_MM = GEANT4_RANGE_CUT_MM_DEFAULT
#: GEANT4's lowest production threshold (``G4ProductionCutsTable`` energy range, 990 eV), MeV.
GEANT4_LOWEST_CUT_MEV = 990e-6
#: GEANT4's lowest electron energy (``G4EmParameters::LowestElectronEnergy``, 1 keV): e± below
#: it are stopped; above it they are tracked to the end of their range.
GEANT4_LOWEST_ELECTRON_MEV = 1e-3


def _g4_cut_grid() -> np.ndarray:
    """``G4VRangeToEnergyConverter``'s energy grid: 1 keV–10 GeV, 50 bins per decade (MeV)."""
    n = 50 * 7
    return 1e-3 * np.exp(np.arange(n + 1) * np.log(1e7) / n)


def _g4_electron_loss(z: float, t_mev: np.ndarray, positron: bool) -> np.ndarray:
    """Per-atom approximate dE/dx (MeV mm², times the atom density) of ``G4RToEConvForElectron``
    / ``G4RToEConvForPositron`` ``ComputeValue``: Berger–Seltzer form with I = 16 Z^0.9 eV, a
    crude bremsstrahlung term above 10 keV, ∝ 1/√T below it."""
    taul = 0.01 / ELECTRON_MASS_MEV
    ionpotlog = np.log(1.6e-5 * z**0.9 / ELECTRON_MASS_MEV)
    tau = np.maximum(t_mev / ELECTRON_MASS_MEV, taul)
    t1, t2, tsq = tau + 1, tau + 2, tau * tau
    beta2 = tau * t2 / (t1 * t1)
    if positron:
        num = 6 * tau + 1.5 * tsq - tau * (1 - tsq / 3) / t2 - tsq * (0.5 - tsq / 12) / (t2 * t2)
        f = 2 * np.log(tau) - num / (t1 * t1)
    else:
        f = 1 - beta2 + np.log(tsq / 2) + (0.5 + 0.25 * tsq + (1 + 2 * tau) * np.log(0.5)) / (t1 * t1)
    dedx = TWO_PI_MC2_RE2_MEV_MM2 * z * (np.log(2 * tau + 4) - 2 * ionpotlog + f) / beta2
    cbrem = (0.02 - 5.7e-5 * z) * (1 + 0.072 * np.log(np.maximum(t_mev, 0.01) / 1000.0))
    brem = TWO_PI_MC2_RE2_MEV_MM2 * 0.1 * z * (z + 1) * cbrem * tau / beta2
    low = t_mev / ELECTRON_MASS_MEV < taul
    return np.where(low, dedx * np.sqrt(taul / (t_mev / ELECTRON_MASS_MEV)), dedx + brem)


def _g4_gamma_cross_section_mm2(z: float, k_mev: np.ndarray) -> np.ndarray:
    """``G4RToEConvForGamma::ComputeValue``: GEANT4's empirical per-atom "absorption" cross section
    (pair + Compton + photoelectric), mm²."""
    zlog = np.log(z)
    s200 = (0.2651 - 0.1501 * zlog + 0.02283 * zlog**2) * z * z
    tmin = 0.552 + 218.5 / z + 557.17 / z**2
    smin = (0.01239 + 0.005585 * zlog - 0.000923 * zlog**2) * np.exp(1.5 * zlog)
    cmin = np.log(s200 / smin) / np.log(tmin / 0.2) ** 2
    tlow = 0.2 * np.exp(-7.355 / np.sqrt(z))
    slow = s200 * np.exp(0.042 * z * np.log(0.2 / tlow) ** 2)
    clow = np.log(300 * z * z / slow) / np.log(tlow / 0.001)
    chigh = (7.55e-5 - 0.0542e-5 * z) * z**3 / np.log(100.0 / tmin)
    k = np.asarray(k_mev, dtype=np.float64)
    s = np.where(
        k < tlow,
        slow * np.exp(clow * np.log(tlow / np.maximum(k, 0.001))),
        np.where(
            k < 0.2,
            s200 * np.exp(0.042 * z * np.log(0.2 / k) ** 2),
            np.where(k < tmin, smin * np.exp(cmin * np.log(tmin / k) ** 2), smin + chigh * np.log(k / tmin)),
        ),
    )
    return s * 1e-22  # barn → mm²


def _interpolate_cut(e, r, range_mm):
    """The first grid energy whose range reaches ``range_mm``, linearly interpolated (GEANT4's way)."""
    i = int(np.argmax(r >= range_mm)) if np.any(r >= range_mm) else len(e) - 1
    if i == 0:
        return float(e[0])
    return float(e[i - 1] + (e[i] - e[i - 1]) * (range_mm - r[i - 1]) / (r[i] - r[i - 1]))


def geant4_production_cut_mev(
    material: Material, particle: str, range_mm: float = GEANT4_RANGE_CUT_MM
) -> float:
    """GEANT4's production threshold (MeV) of ``particle`` ("gamma", "e-", "e+") for a range cut.

    ``G4VRangeToEnergyConverter::Convert`` (GEANT4 11; Physics Reference Manual, "Production
    threshold"): for e± the range from GEANT4's approximate stopping power integrated on its grid,
    with the low-energy correction below 30 keV; for photons the energy where 5 absorption lengths
    (5/Σ of an empirical cross section) equal the range cut; clamped to 1 keV–10 GeV, and never
    below the 990 eV lower edge of the production-cuts table. Our materials are single effective
    atoms (``Material.z``, atom density = electron density / Z).
    """
    e = _g4_cut_grid()
    n_atoms = material.atom_density_per_mm3
    if particle == "gamma":
        cut = _interpolate_cut(e, 5.0 / (n_atoms * _g4_gamma_cross_section_mm2(material.z, e)), range_mm)
    elif particle in ("e-", "e+"):
        dedx = n_atoms * _g4_electron_loss(material.z, e, particle == "e+")
        steps = 2 * np.diff(np.concatenate([[0.0], e])) / (np.concatenate([[0.0], dedx[:-1]]) + dedx)
        cut = _interpolate_cut(e, np.cumsum(steps), range_mm)
        # GEANT4's correction below 30 keV: tune = 0.025 mm g/cm³
        if cut < 0.03:
            cut /= 1 + (1 - cut / 0.03) * 0.025 / (range_mm * material.density_g_cm3)
    else:
        raise ValueError(f"particle must be 'gamma', 'e-' or 'e+', got {particle!r}")
    return float(max(GEANT4_LOWEST_CUT_MEV, min(max(cut, 1e-3), 1e4)))


def csda_range_mm(material: Material, t_mev: np.ndarray, positron: bool) -> np.ndarray:
    """CSDA range (mm) of e− / e+ on ``t_mev`` (unrestricted collision + radiative loss, ICRU 37 form);
    below the first grid point the range is taken ∝ T (the loss there is nearly ∝ 1/T·ln T)."""
    dedx = restricted_dedx(material, t_mev, 1e9, positron=positron)
    _, rad = brems_tables(material, 1e9, t_mev)
    inv = 1 / np.maximum(dedx + rad, 1e-30)
    first = 0.5 * t_mev[0] * inv[0]
    return first + np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(t_mev))])
