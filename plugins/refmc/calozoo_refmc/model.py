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
    "stack_with_surroundings",
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


def stack_with_surroundings(geometry, front=None, back=None) -> SlabStack:
    """The geometry's slab stack with its passive ``surroundings`` before the front face and after the back.

    ``front`` / ``back`` (lists of ``(material, thickness_mm, layer)``) override the geometry's
    ``surroundings`` (e.g. ``ILDRegular.surroundings``). The front face stays at depth 0: the
    slabs in front lie at negative depths and the transport starts at the first of them. A
    particle leaving the back of the last slab counts as escaped (for the ILD HCAL: behind the
    layers kept, ``ild_ecal.json`` ``surroundings.hcal_layers_kept``).
    """
    ecal = slab_stack_from_geometry(geometry)
    if front is None or back is None:
        sur = getattr(geometry, "surroundings", None)
        if sur is None:
            raise ValueError(f"geometry {getattr(geometry, 'name', geometry)!r} has no surroundings")
        front = sur[0] if front is None else front
        back = sur[1] if back is None else back
    if any(s[2] is not None for s in (*front, *back)):
        raise ValueError("surroundings must be passive (layer None)")
    t_front = np.array([float(s[1]) for s in front])
    t_back = np.array([float(s[1]) for s in back])
    bounds = np.concatenate(
        [-np.cumsum(t_front[::-1])[::-1], ecal.boundaries_mm, ecal.depth_mm + np.cumsum(t_back)]
    )
    materials = tuple(str(s[0]) for s in front) + ecal.materials + tuple(str(s[0]) for s in back)
    layer = np.concatenate([np.full(len(front), -1), ecal.layer, np.full(len(back), -1)]).astype(np.int32)
    return SlabStack(bounds, materials, layer)


#: The barrel's field axis in the local frame: along the beam.
_ALONG_X = (1.0, 0.0, 0.0)


def _field_direction(value) -> tuple[float, float, float]:
    """A field direction as a tuple of three floats; refuses anything but a unit vector."""
    d = np.asarray(value, dtype=np.float64).reshape(-1)
    if d.shape != (3,) or not np.all(np.isfinite(d)) or abs(np.linalg.norm(d) - 1.0) > 1e-6:
        raise ValueError(f"field_direction must be a unit 3-vector in the local frame, got {value!r}")
    return tuple(float(c) for c in d)


def simulate_hits(
    stack: SlabStack,
    tables: Tables,
    energy_gev: np.ndarray,
    direction: np.ndarray,
    pdg: np.ndarray,
    seeds: np.ndarray,
    field_tesla: float = 3.5,
    field_direction=(1.0, 0.0, 0.0),
) -> tuple[list[np.ndarray], np.ndarray]:
    """Transport showers through ``stack``: per shower ``(n, 5)`` hits ``x, y, z [mm], e [MeV], layer``.

    ``field_direction``: the field's unit vector in the local frame (the barrel's beam axis ``x``
    by default; ``z``, along the shower, in the endcap).

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
            *(float(c) for c in field_direction),
        )
        if stack.boundaries_mm[0] < 0 and len(h):
            # slabs in front of the face (surroundings): the transport starts at their front, so
            # shift a tilted shower back to entering the front face at x = y = 0
            h[:, 0] += stack.boundaries_mm[0] * d[0] / d[2]
            h[:, 1] += stack.boundaries_mm[0] * d[1] / d[2]
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
        field_tesla: magnetic field strength, T; default the geometry's ``field_tesla``, else 3.5
            (ILD's solenoid).
        field_direction: its unit vector in the local frame; default the geometry's
            ``field_direction`` (``ild-ecal-regular``: ``x``, the beam; ``ild-ecal-endcap-regular``:
            ``z``, along the shower), else ``x``.
        energy_range_gev: accepted incident kinetic energies, GeV.
        max_angle_deg: accepted directions: at most this angle to the layer normal.
        cuts: overrides of :class:`~calozoo_refmc.physics.Cuts` (MeV, mm).
        max_points: training points kept per shower (the most energetic), ``None`` for all.
        physics_version: which physics (docs/reference-mc.md, "Physics versions"); 2 reproduces
            the data the shipped models were trained on.
        surroundings: physics version 3 only: also transport the geometry's passive
            ``surroundings`` (``ild-ecal-regular``: TPC field cage, SET, the first HCAL layers;
            :func:`stack_with_surroundings`). Version 2 always transports the bare stack.

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
        field_tesla: float | None = None,
        energy_range_gev: tuple[float, float] = (0.1, 1000.0),
        max_angle_deg: float = 89.0,
        cuts: dict[str, float] | None = None,
        max_points: int | None = None,
        physics_version: int = PHYSICS_VERSION,
        surroundings: bool = False,
        field_direction=None,
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
        self.energy_range_gev = (lo, hi)
        self.max_angle_deg = float(max_angle_deg)
        self.physics_version = check_physics_version(physics_version)
        if surroundings and self.physics_version < 3:
            raise ValueError(
                "surroundings=True needs physics_version >= 3 (version 2 transports the bare stack)"
            )
        self.surroundings = bool(surroundings)
        self.cuts = Cuts(**(cuts or {}))
        self.max_points = max_points
        import calozoo

        self.geometry = calozoo.geometry(geometry) if isinstance(geometry, str) else geometry
        if field_tesla is None:  # the geometry's field (calochallenge-regular: none), else ILD's 3.5 T
            field_tesla = getattr(self.geometry, "field_tesla", 3.5)
        self.field_tesla = float(field_tesla)
        self.field_direction = _field_direction(
            getattr(self.geometry, "field_direction", _ALONG_X)
            if field_direction is None
            else field_direction
        )
        if self.surroundings:
            self.stack = stack_with_surroundings(self.geometry)
        else:
            self.stack = slab_stack_from_geometry(self.geometry)
        self.tables = build_tables(self.stack, self.cuts, self.physics_version)
        self.n_layers = self.stack.n_layers

    @property
    def conditions(self) -> Conditions:
        return Conditions(*self.energy_range_gev, pdg=(22, 11), max_angle_deg=self.max_angle_deg)

    def get_config(self) -> dict[str, Any]:
        extra = {"surroundings": True} if self.surroundings else {}
        if self.field_direction != _ALONG_X:  # folders saved before the option read as along x
            extra["field_direction"] = list(self.field_direction)
        return extra | {
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
            self.stack,
            self.tables,
            energy_gev,
            direction,
            pdg,
            transport_seeds(seeds),
            self.field_tesla,
            self.field_direction,
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
