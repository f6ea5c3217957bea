"""``reference-mc``: calozoo's analogue EM cascade Monte Carlo as a ShowerModel ("full simulation")."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import numpy as np

from calozoo.conditions import Conditions
from calozoo.interfaces import Geometry, ShowerModel
from calozoo.seeding import sub_seeds
from calozoo.showers import Showers

from .materials import SlabStack, slab_stack_from_geometry
from .physics import PHYSICS_VERSION, Cuts, Tables, build_tables, check_physics_version

__all__ = [
    "ReferenceMC",
    "load_reference_mc",
    "simulate_hits",
    "transport_seeds",
    "preprocessing_seeds",
    "PARTICLES",
]

#: PDG id → the transport's particle kind (photon, electron, positron).
PARTICLES = {22: 0, 11: 1, -11: 2}

#: The two streams of a shower's seed (:func:`calozoo.seeding.sub_seeds`): transport, preprocessing.
TRANSPORT_STREAM, PREPROCESSING_STREAM = 0, 1


def transport_seeds(seeds) -> np.ndarray:
    """``(N,)`` uint32 seeds of the transport (numba's generator) from the showers' own seeds."""
    return sub_seeds(seeds, TRANSPORT_STREAM, np.uint32)


def preprocessing_seeds(seeds) -> np.ndarray:
    """``(N,)`` uint64 seeds of the showers' preprocessing (sub-cell offsets, depths)."""
    return sub_seeds(seeds, PREPROCESSING_STREAM)


def simulate_hits(
    stack: SlabStack,
    tables: Tables,
    energy_gev: np.ndarray,
    direction: np.ndarray,
    pdg: np.ndarray,
    seeds: np.ndarray,
    field_tesla: float = 3.5,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Transport showers through ``stack``: per shower ``(n, 5)`` hits ``x, y, z [mm], e [MeV], layer``.

    Also returns ``(N, 3)`` energy tallies in MeV: deposited, absorbed on the spot below the cuts,
    escaped; per shower they add up to the incident kinetic energy.
    """
    from .transport import simulate_shower

    energy_gev = np.asarray(energy_gev, dtype=np.float64).reshape(-1)
    direction = np.asarray(direction, dtype=np.float64).reshape(-1, 3)
    pdg = np.broadcast_to(np.asarray(pdg), energy_gev.shape)
    hits, tallies = [], np.zeros((len(energy_gev), 3))
    for i, (e, d, p, seed) in enumerate(zip(energy_gev, direction, pdg, seeds)):
        if int(p) not in PARTICLES:
            raise ValueError(f"unknown particle pdg {int(p)}; the reference MC simulates {sorted(PARTICLES)}")
        h, tallies[i] = simulate_shower(
            float(e) * 1000.0,
            float(d[0]),
            float(d[1]),
            float(d[2]),
            PARTICLES[int(p)],
            int(seed),
            stack.boundaries_mm,
            tables.slab_medium,
            stack.layer,
            tables.params,
            tables.photon,
            tables.electron,
            float(field_tesla),
            int(tables.version),
            tables.photon_low,
            tables.photon_shells,
            tables.photon_formf,
        )
        hits.append(h)
    return hits, tallies


class ReferenceMC(ShowerModel):
    """Analogue electromagnetic cascade Monte Carlo in a planar layer stack (see docs/reference-mc.md).

    Photons and electrons are transported particle by particle through the geometry's material
    stack (pair production, Compton, photoelectric absorption, bremsstrahlung, ionisation with
    Møller/Bhabha delta rays, multiple scattering, annihilation, a field along the beam), and the
    deposits in the silicon are recorded as raw hits.

    Args:
        output: ``"points"`` (default): CaloClouds training points made by
            :func:`calozoo.preprocessing.preprocess` with the geometry; ``"raw"``: the raw hits
            (``z_units="mm"``, depth behind the front face, energies in MeV).
        geometry: a geometry with a ``material_stack``, or its registered name.
        field_tesla: magnetic field along the local ``x`` axis (the beam), T.
        energy_range_gev: accepted incident kinetic energies, GeV.
        max_angle_deg: accepted directions: at most this angle to the layer normal.
        cuts: overrides of :class:`~calozoo_refmc.physics.Cuts` (MeV, mm).
        max_points: training points kept per shower (the most energetic), ``None`` for all.
        physics_version: which physics (docs/reference-mc.md, "Physics versions"); 2 reproduces
            the data the shipped models were trained on.

    Example:
        >>> model = ReferenceMC(output="raw")
        >>> hits = model.sample(10.0, seed=1)
        >>> hits.z_units, bool(0.01 < hits.visible_energy_mev[0] / 10_000 < 0.04)
        ('mm', True)
    """

    name = "reference-mc"
    n_layers = 30

    def __init__(
        self,
        output: str = "points",
        geometry: str | Geometry = "ild-ecal-regular",
        field_tesla: float = 3.5,
        energy_range_gev: tuple[float, float] = (0.1, 1000.0),
        max_angle_deg: float = 89.0,
        cuts: dict[str, float] | None = None,
        max_points: int | None = None,
        physics_version: int = PHYSICS_VERSION,
    ) -> None:
        if output not in ("points", "raw"):
            raise ValueError(f"output must be 'points' or 'raw', got {output!r}")
        lo, hi = (float(v) for v in energy_range_gev)
        if not 0 < lo < hi:
            raise ValueError(f"energy_range_gev must satisfy 0 < low < high, got {energy_range_gev}")
        if not 0 <= max_angle_deg < 90:
            raise ValueError(f"max_angle_deg must lie in [0, 90), got {max_angle_deg}")
        self.output = output
        self.geometry_name = geometry if isinstance(geometry, str) else geometry.name
        self.field_tesla = float(field_tesla)
        self.energy_range_gev = (lo, hi)
        self.max_angle_deg = float(max_angle_deg)
        self.physics_version = check_physics_version(physics_version)
        self.cuts = Cuts(**(cuts or {}))
        self.max_points = max_points
        import calozoo

        self.geometry = calozoo.geometry(geometry) if isinstance(geometry, str) else geometry
        self.stack = slab_stack_from_geometry(self.geometry)
        self.tables = build_tables(self.stack, self.cuts, self.physics_version)
        self.n_layers = self.stack.n_layers

    @property
    def conditions(self) -> Conditions:
        return Conditions(*self.energy_range_gev, pdg=(22, 11), max_angle_deg=self.max_angle_deg)

    def get_config(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "geometry": self.geometry_name,
            "field_tesla": self.field_tesla,
            "energy_range_gev": list(self.energy_range_gev),
            "max_angle_deg": self.max_angle_deg,
            "cuts": asdict(self.cuts),
            "max_points": self.max_points,
            "physics_version": self.physics_version,
        }

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> ReferenceMC:
        # a folder saved before physics versions were recorded was made with version 2
        return cls(**{"physics_version": 2, **config})

    def simulate_raw(self, energy_gev, direction, pdg, seeds) -> tuple[Showers, np.ndarray]:
        """Raw hits of a batch plus its ``(N, 3)`` energy tallies (deposited, local, escaped; MeV).

        ``seeds``: the ``(N,)`` per-shower seeds (:meth:`generate`'s); shower ``i``'s transport
        is seeded with :func:`transport_seeds` of ``seeds[i]`` alone.
        """
        hits, tallies = simulate_hits(
            self.stack, self.tables, energy_gev, direction, pdg, transport_seeds(seeds), self.field_tesla
        )
        # a deposit that rounds to zero in float32 would read as padding on disk
        kept = [h[h[:, 3].astype(np.float32) > 0, :4] for h in hits]
        raw = Showers.from_point_lists(kept, energy_gev, direction, pdg=np.asarray(pdg), z_units="mm")
        return raw, tallies

    def points_from_raw(self, raw: Showers, seeds, max_points: int | None = None) -> Showers:
        """Training points of raw hits (:func:`calozoo.preprocessing.preprocess` with the geometry),
        shower ``i``'s sub-cell offsets and depths from :func:`preprocessing_seeds` of ``seeds[i]``."""
        from calozoo.preprocessing import preprocess

        return preprocess(raw, self.geometry, seeds=preprocessing_seeds(seeds), max_points=max_points)

    def generate(self, energy_gev, direction, pdg, seeds):
        raw, _ = self.simulate_raw(energy_gev, direction, pdg, seeds)
        if self.output == "raw":
            return raw
        return self.points_from_raw(raw, seeds, max_points=self.max_points)


def load_reference_mc(path: str | os.PathLike | None = None, **options) -> ReferenceMC:
    """Factory registered as ``reference-mc``: default settings (``options`` override them) or a saved one."""
    if path is not None:
        if options:
            raise TypeError(f"options {sorted(options)} cannot be combined with a saved folder")
        return ReferenceMC.load(path)
    return ReferenceMC(**options)
