"""Material constants of the reference Monte Carlo and the planar slab stack it transports through.

Sources:

- PDG, "Atomic and nuclear properties of materials" (pdg.lbl.gov/AtomicNuclearProperties):
  densities, radiation lengths ``X0``, critical energies, mean excitation energies ``I``.
- R.M. Sternheimer, M.J. Berger, S.M. Seltzer, Atomic Data and Nuclear Data Tables 30 (1984)
  261: the density-effect parameters ``(C̄, x0, x1, a, k, δ0)`` (as reproduced by the PDG).
- NIST XCOM / XAAMDI (M.J. Berger, J.H. Hubbell et al.): total photon attenuation of tungsten,
  from which the photoelectric parametrisation is derived (see :func:`photoelectric_w_cm2_g`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Material",
    "MATERIALS",
    "COMPOSITION",
    "SlabStack",
    "slab_stack_from_geometry",
    "homogeneous_block",
    "single_slab",
    "W_ATTENUATION_MEV",
    "W_ATTENUATION_CM2_G",
    "photoelectric_w_cm2_g",
    "w_attenuation_without_coherent_cm2_g",
    "klein_nishina_cm2_per_electron",
]

#: Avogadro's number, 1/mol.
AVOGADRO = 6.02214076e23


@dataclass(frozen=True)
class Material:
    """One material of the stack (mixtures described by effective values).

    Attributes:
        name: the name the geometry plugin uses.
        z: effective atomic number (screening, Coulomb correction, photoelectric scaling).
        z_over_a: electrons per nucleon, mol/g (electron density = ρ N_A Z/A).
        density_g_cm3: mass density, g/cm³.
        x0_g_cm2: radiation length, g/cm² (PDG).
        i_ev: mean excitation energy, eV (PDG).
        sternheimer: density-effect parameters ``(C̄, x0, x1, a, k, δ0)`` (Sternheimer et al. 1984).
        critical_energy_mev: PDG critical energy for electrons (Rossi definition), MeV (documentation
            and tests only; the transport does not use it).
    """

    name: str
    z: float
    z_over_a: float
    density_g_cm3: float
    x0_g_cm2: float
    i_ev: float
    sternheimer: tuple[float, float, float, float, float, float]
    critical_energy_mev: float

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0_g_cm2 / self.density_g_cm3

    @property
    def electron_density_per_mm3(self) -> float:
        """Electrons per mm³."""
        return self.density_g_cm3 * AVOGADRO * self.z_over_a / 1000.0

    @property
    def atom_density_per_mm3(self) -> float:
        """(Effective) atoms per mm³."""
        return self.electron_density_per_mm3 / self.z

    @property
    def moliere_radius_mm(self) -> float:
        """Molière radius ``X0 · 21.2052 MeV / E_c`` in mm (PDG eq. 34.39)."""
        return self.x0_mm * 21.2052 / self.critical_energy_mev


#: The materials of the ILD stack (names as in ``calozoo_ild.facts.MATERIALS``), PDG values.
MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("W", 74, 0.40250, 19.3, 6.76, 727.0, (5.4059, 0.2167, 3.4960, 0.1551, 2.8447, 0.14), 7.97),
        Material(
            "Si", 14, 0.49848, 2.329, 21.82, 173.0, (4.4355, 0.2014, 2.8715, 0.1492, 3.2546, 0.14), 40.19
        ),
        Material(
            "Cu", 29, 0.45636, 8.96, 12.86, 322.0, (4.4190, -0.0254, 3.2792, 0.1434, 2.9044, 0.08), 19.42
        ),
        Material(
            "Al", 13, 0.48181, 2.699, 24.01, 166.0, (4.2395, 0.1708, 3.0127, 0.0802, 3.6345, 0.12), 42.70
        ),
        # C8H8: effective Z of the electrons' mix; PDG "polystyrene".
        Material(
            "polystyrene",
            5.6,
            0.53768,
            1.06,
            43.79,
            68.7,
            (3.2999, 0.1647, 2.5031, 0.1646, 3.2224, 0.0),
            93.11,
        ),
        # Carbon-fibre composite treated as carbon at 1.6 g/cm³ (spec); graphite's density-effect set.
        Material(
            "carbon fibre",
            6,
            0.49955,
            1.6,
            42.70,
            78.0,
            (3.1550, 0.0480, 2.5387, 0.2076, 2.9532, 0.14),
            81.74,
        ),
        # Dry air at sea level (PDG).
        Material(
            "air",
            7.3,
            0.49919,
            0.00120479,
            36.62,
            85.7,
            (10.5961, 1.7418, 4.2759, 0.1091, 3.3994, 0.0),
            87.92,
        ),
        # The thin "ground/HV" foils (kapton with glue and a metal film): documented as polyimide
        # (PDG "kapton"), a light material; at 0.1 mm it matters for nothing but bookkeeping.
        Material(
            "ground/HV mix",
            6.5,
            0.51264,
            1.42,
            40.58,
            79.6,
            (3.3497, 0.1509, 2.5631, 0.1597, 3.1921, 0.0),
            84.2,
        ),
        # The surroundings of physics version 3 (calozoo_ild facts, "surroundings"): the HCAL's
        # Steel235 radiator as iron (PDG "iron", its density-effect set) at Steel235's 7.85 g/cm³.
        Material(
            "steel", 26, 0.46557, 7.85, 13.84, 286.0, (4.2911, -0.0012, 3.1531, 0.1468, 2.9632, 0.12), 21.68
        ),
        # Soda-lime float glass of the HCAL's RPCs (and the TPC field cage's g10 by mass), 2.5 g/cm³,
        # composition as in COMPOSITION; Z/A, the electron-weighted effective Z (Σ w Z²/A / Σ w Z/A)
        # and X0 (1/X0 = Σ w/X0_i, PDG elements) computed from it; I and the density-effect set of
        # PDG "glass, plate"; critical energy from the PDG fit 610 MeV/(Z + 1.24) (documentation).
        Material(
            "glass", 11.59, 0.49733, 2.5, 25.66, 145.4, (4.0602, 0.1237, 3.0649, 0.0708, 3.5381, 0.0), 47.5
        ),
    )
}

#: Element composition of every material, ``(Z, mass fraction)``, for the per-element photon data
#: of physics version 3 (xraylib, :mod:`calozoo_refmc.photons`). PDG "Atomic and nuclear
#: properties" compositions: polystyrene C8H8; dry air near sea level (C, N, O, Ar); the carbon
#: fibre as carbon (as its ``Material``); the "ground/HV mix" foils as polyimide film (kapton,
#: C22H10N2O5), as their ``Material`` is (its glue and thin metal film are not resolved).
COMPOSITION: dict[str, tuple[tuple[int, float], ...]] = {
    "W": ((74, 1.0),),
    "Si": ((14, 1.0),),
    "Cu": ((29, 1.0),),
    "Al": ((13, 1.0),),
    "polystyrene": ((1, 0.077418), (6, 0.922582)),
    "carbon fibre": ((6, 1.0),),
    "air": ((6, 0.000124), (7, 0.755268), (8, 0.231781), (18, 0.012827)),
    "ground/HV mix": ((1, 0.026362), (6, 0.691133), (7, 0.073270), (8, 0.209235)),
    # Steel235 as iron; float glass: PDG "glass, plate" mass fractions (O, Na, Si, Ca).
    "steel": ((26, 1.0),),
    "glass": ((8, 0.4598), (11, 0.0964), (14, 0.3366), (20, 0.1072)),
}

# ---------------------------------------------------------------- photon attenuation of tungsten
#: Photon energies (MeV) of the tabulated tungsten attenuation (NIST XAAMDI, Z = 74).
W_ATTENUATION_MEV = np.array([0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0])
#: Total mass attenuation of tungsten with coherent scattering, cm²/g (NIST XAAMDI).
W_ATTENUATION_CM2_G = np.array(
    [4.438, 1.581, 0.7844, 0.3238, 0.1925, 0.1378, 0.1093, 0.08066, 0.06618, 0.05577, 0.05000, 0.04433]
)
#: Coherent (Rayleigh) part of it, cm²/g (NIST XCOM, rounded): not simulated (it hardly moves
#: energy), so it is removed before deriving the photoelectric part.
_W_COHERENT_CM2_G = np.array(
    [0.285, 0.145, 0.088, 0.042, 0.024, 0.0157, 0.011, 0.0065, 0.0043, 0.0028, 0.0019, 0.0011]
)


def w_attenuation_without_coherent_cm2_g() -> np.ndarray:
    """NIST total attenuation of tungsten without coherent scattering at :data:`W_ATTENUATION_MEV`, cm²/g.

    What the reference MC must reproduce: it does not simulate coherent (Rayleigh) scattering,
    which deposits no energy and deflects photons by small angles only.
    """
    return W_ATTENUATION_CM2_G - _W_COHERENT_CM2_G


def klein_nishina_cm2_per_electron(k_mev):
    """Klein–Nishina total cross section per free electron (cm²) at photon energy ``k_mev``."""
    r_e = 2.8179403262e-13
    x = np.asarray(k_mev, dtype=np.float64) / 0.51099895
    a = (1 + x) / x**2 * (2 * (1 + x) / (1 + 2 * x) - np.log1p(2 * x) / x)
    return 2 * np.pi * r_e**2 * (a + np.log1p(2 * x) / (2 * x) - (1 + 3 * x) / (1 + 2 * x) ** 2)


def photoelectric_w_cm2_g(k_mev):
    """Photoelectric mass attenuation of tungsten (cm²/g) above its K edge (69.5 keV).

    Derived from the NIST total attenuation minus coherent scattering, free-electron Compton
    (Klein–Nishina) and pair production (zero below 1.2 MeV for this purpose), interpolated
    log–log; extrapolated with the end slopes. Good to a few per cent from 0.1 to 1 MeV, where
    it matters (it is the absorption that ends photons in tungsten).
    """
    w = MATERIALS["W"]
    compton = klein_nishina_cm2_per_electron(W_ATTENUATION_MEV) * AVOGADRO * w.z_over_a
    table = W_ATTENUATION_CM2_G - _W_COHERENT_CM2_G - compton
    ok = W_ATTENUATION_MEV <= 1.0
    log_e, log_pe = np.log(W_ATTENUATION_MEV[ok]), np.log(table[ok])
    x = np.log(np.asarray(k_mev, dtype=np.float64))
    inner = np.interp(x, log_e, log_pe)
    low = log_pe[0] + (x - log_e[0]) * (log_pe[1] - log_pe[0]) / (log_e[1] - log_e[0])
    high = log_pe[-1] + (x - log_e[-1]) * (log_pe[-1] - log_pe[-2]) / (log_e[-1] - log_e[-2])
    return np.exp(np.where(x < log_e[0], low, np.where(x > log_e[-1], high, inner)))


# ---------------------------------------------------------------- the planar stack
@dataclass(frozen=True)
class SlabStack:
    """A planar, transversely unbounded stack of slabs along the depth ``z`` (mm, from the front face).

    Attributes:
        boundaries_mm: ``(n + 1,)`` slab boundaries, increasing, starting at 0.
        materials: ``(n,)`` material name of each slab.
        layer: ``(n,)`` int32 sensitive-layer index of each slab, ``-1`` where passive. Energy
            deposited in a slab with a layer index is recorded as raw hits.
    """

    boundaries_mm: np.ndarray
    materials: tuple[str, ...]
    layer: np.ndarray

    def __post_init__(self) -> None:
        unknown = sorted(set(self.materials) - set(MATERIALS))
        if unknown:
            raise ValueError(f"unknown materials {unknown}; the reference MC knows {sorted(MATERIALS)}")
        if len(self.boundaries_mm) != len(self.materials) + 1 or np.any(np.diff(self.boundaries_mm) <= 0):
            raise ValueError("boundaries_mm must increase and have one entry more than materials")
        if not np.any(self.layer >= 0):
            raise ValueError("the stack has no sensitive layer: nothing would be recorded")

    @property
    def depth_mm(self) -> float:
        return float(self.boundaries_mm[-1])

    @property
    def n_layers(self) -> int:
        return int(self.layer.max()) + 1


def _stack(slices) -> SlabStack:
    materials = tuple(str(m) for m, _, _ in slices)
    thickness = np.array([float(t) for _, t, _ in slices])
    layer = np.array([-1 if lay is None else int(lay) for _, _, lay in slices], dtype=np.int32)
    return SlabStack(np.concatenate([[0.0], np.cumsum(thickness)]), materials, layer)


def slab_stack_from_geometry(geometry) -> SlabStack:
    """The slab stack of a geometry with a ``material_stack`` (e.g. ``ild-ecal-regular``).

    Raises:
        ValueError: the geometry has no material stack or no sensitive layers.
    """
    slices = getattr(geometry, "material_stack", None)
    if slices is None or len(slices) == 0:
        raise ValueError(
            f"geometry {getattr(geometry, 'name', geometry)!r} has no material_stack: the reference MC "
            "needs the list of (material, thickness_mm, layer) slabs to transport through"
        )
    return _stack([(s[0], s[1], s[2]) for s in slices])


def homogeneous_block(material: str = "W", depth_mm: float = 140.0, slice_mm: float = 0.5) -> SlabStack:
    """A block of one material cut into sensitive slices (every slice records hits)."""
    n = int(round(depth_mm / slice_mm))
    return _stack([(material, slice_mm, i) for i in range(n)])


def single_slab(material: str = "Si", thickness_mm: float = 0.525) -> SlabStack:
    """One sensitive slab (e.g. a silicon sensor on its own, for the MIP check)."""
    return _stack([(material, thickness_mm, 0)])
