"""The CaloChallenge 2022 detector of datasets 2 and 3: the Geant4 Par04 silicon-tungsten cylinder.

Facts (``shared/specs/geometry.md``, from the CaloChallenge dataset pages):

- concentric cylinders around the particle's direction, inner radius 80 cm; 90 physical layers,
  each 1.4 mm of tungsten then 0.3 mm of silicon; two physical layers are read out together, so
  there are 45 readout layers of 3.4 mm;
- the readout is a mesh of voxels around the particle's axis in every readout layer: dataset 2
  has 16 angular x 9 radial bins (radial width 4.65 mm, to 41.85 mm), 6480 voxels; dataset 3
  50 x 18 bins (2.325 mm), 40500 voxels; the angular bins are uniform on ``[−π, π)``;
- files hold ``incident_energies`` ``(N, 1)`` and ``showers`` ``(N, voxels)`` in MeV, voxel
  order radial fastest, then angle, then layer; the stored energies are the silicon's divided by
  the sampling fraction 0.033, and voxels under 15.15 keV stored (0.5 keV in the silicon) are 0;
- electrons of 1 GeV to 1 TeV, log-uniform; no magnetic field.

Three geometries:

- ``calochallenge-regular`` (:class:`CaloChallengeRegular`): the 45 readout layers at their depths
  under one square 2.325 mm grid, with the material stack the reference Monte Carlo transports
  through and no field. Showers are simulated and trained here.
- ``calochallenge-ds2`` and ``calochallenge-ds3`` (:class:`CaloChallengeVoxels`): the two voxel
  readouts. ``project`` sums training points into voxels (cell ids are the CaloChallenge voxel
  indices); :meth:`CaloChallengeVoxels.to_voxels` and :meth:`~CaloChallengeVoxels.from_voxels`
  convert to and from the files' :class:`~calozoo.io.VoxelShowers`.

Everything in calozoo that is not this module is the same for this detector as for the ILD ECAL.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from calozoo.conditions import UNIT_TOLERANCE
from calozoo.interfaces import CellHits, EnergyLosses, Geometry, check_training_points, warn_missing_layers
from calozoo.io import VoxelShowers
from calozoo.layered import PlanarGeometry, cell_sums, pad_cell_hits, sum_per_shower
from calozoo.showers import Showers

__all__ = [
    "CaloChallengeRegular",
    "CaloChallengeVoxels",
    "dataset2",
    "dataset3",
    "material_stack",
    "layer_depth_mm",
    "N_LAYERS",
    "SAMPLING_FRACTION",
    "THRESHOLD_MEV",
]

#: Readout layers (each two physical layers of W + Si).
N_LAYERS = 45
#: Physical layers per readout layer.
PHYSICAL_PER_READOUT = 2
#: One physical layer: the tungsten absorber, then the silicon sensor (mm).
ABSORBER_MM = 1.4
SENSOR_MM = 0.3
#: The factor from the silicon's energy to the stored energy is ``1 / SAMPLING_FRACTION``.
SAMPLING_FRACTION = 0.033
#: Voxels below this energy in the silicon (MeV) are zero: 15.15 keV in stored energy.
THRESHOLD_MEV = 0.0005
#: Inner radius of the cylinder (mm): where the particle enters, along its normal.
INNER_RADIUS_MM = 800.0
#: The square pitch of the regularised geometry's cells (mm): dataset 3's radial bin width.
REGULAR_CELL_MM = 2.325


def material_stack() -> tuple[tuple[str, float, int], ...]:
    """``(material, thickness_mm, readout layer or None)`` of the 180 slices, front to back.

    >>> stack = material_stack()
    >>> len(stack), stack[:4]
    (180, (('W', 1.4, None), ('Si', 0.3, 0), ('W', 1.4, None), ('Si', 0.3, 0)))
    >>> round(sum(t for _, t, _ in stack), 6)
    153.0
    """
    slices = []
    for physical in range(N_LAYERS * PHYSICAL_PER_READOUT):
        slices += [("W", ABSORBER_MM, None), ("Si", SENSOR_MM, physical // PHYSICAL_PER_READOUT)]
    return tuple(slices)


def layer_depth_mm() -> np.ndarray:
    """``(45,)`` depth of each readout layer's centre: midway between its two sensors' centres.

    >>> layer_depth_mm()[:2].round(6).tolist()
    [2.4, 5.8]
    """
    pitch = ABSORBER_MM + SENSOR_MM
    first = ABSORBER_MM + SENSOR_MM / 2  # the first sensor's centre
    sensors = first + pitch * np.arange(N_LAYERS * PHYSICAL_PER_READOUT)
    return sensors.reshape(N_LAYERS, PHYSICAL_PER_READOUT).mean(axis=1)


class CaloChallengeRegular(PlanarGeometry):
    """The CaloChallenge detector regularised for training: 45 readout layers, 2.325 mm cells, no gaps.

    A core :class:`~calozoo.layered.PlanarGeometry` with this detector's numbers, the material
    stack the reference Monte Carlo transports through (:func:`material_stack`) and no field
    (Par04 has none). The square grid is only for preprocessing (sub-cell binning) and for
    looking at showers: the detector's readout is the voxel mesh of
    :class:`CaloChallengeVoxels`.

    Args:
        threshold_mev: cells below this are dropped; default 0 (the voxels have the threshold).
        name: the registered name.

    Example:
        >>> geo = CaloChallengeRegular()
        >>> geo.n_layers, geo.cell_size_mm, geo.field_tesla
        (45, 2.325, 0.0)
    """

    #: No magnetic field in the CaloChallenge's Geant4 example (the reference MC reads these).
    field_tesla = 0.0
    field_direction = (1.0, 0.0, 0.0)

    def __init__(self, threshold_mev: float = 0.0, name: str = "calochallenge-regular"):
        super().__init__(
            layer_depth_mm(), cell_size_mm=REGULAR_CELL_MM, threshold_mev=threshold_mev, name=name
        )
        self.material_stack = material_stack()

    def get_config(self) -> dict[str, Any]:
        return {"threshold_mev": self.threshold_mev, "name": self.name}


class CaloChallengeVoxels(Geometry):
    """A CaloChallenge voxel readout: ``n_alpha`` angular x ``n_r`` radial bins in each of 45 layers.

    The mesh is centred on the particle's trajectory in every layer, so ``project`` bins the
    training points as they are (``x, y`` relative to the trajectory, tilt removed): radius
    ``hypot(x, y)`` in bins of ``radial_bin_mm``, angle ``atan2(y, x)`` in ``n_alpha`` equal
    bins of ``[−π, π)``. Energy beyond the last radial bin is *outside*; voxels under
    :attr:`threshold_mev` (in the silicon) are dropped. The cell id of a voxel is its index in the
    CaloChallenge's files: ``(layer * n_alpha + alpha_bin) * n_r + r_bin``.

    Args:
        n_alpha: angular bins.
        n_r: radial bins.
        radial_bin_mm: the radial bins' width, mm.
        threshold_mev: voxels below this energy in the silicon (MeV) are dropped; default 0.0005
            (15.15 keV stored).
        name: the registered name.

    Example:
        >>> ds2 = dataset2()
        >>> ds2.n_voxels, ds2.radial_edges_mm[-1].round(2)
        (6480, np.float64(41.85))
        >>> s = Showers.from_point_lists([np.array([[3.0, 0.1, 0.5, 1.0], [100.0, 0.0, 2.5, 2.0]])], [10.0])
        >>> hits = ds2.project(s)
        >>> hits.cell_id[0].tolist(), hits.losses.outside_mev.tolist()
        ([72], [2.0])
    """

    name = "calochallenge"
    cell_size_mm = None

    def __init__(
        self,
        n_alpha: int,
        n_r: int,
        radial_bin_mm: float,
        threshold_mev: float | None = None,
        name: str = "calochallenge",
    ):
        if int(n_alpha) < 1 or int(n_r) < 1 or not radial_bin_mm > 0:
            raise ValueError(
                f"a voxel readout needs n_alpha >= 1, n_r >= 1 and radial_bin_mm > 0, got "
                f"{n_alpha}, {n_r}, {radial_bin_mm}"
            )
        threshold_mev = THRESHOLD_MEV if threshold_mev is None else float(threshold_mev)
        if not threshold_mev >= 0:
            raise ValueError(f"threshold_mev must be >= 0, got {threshold_mev}")
        self.n_alpha, self.n_r, self.radial_bin_mm = int(n_alpha), int(n_r), float(radial_bin_mm)
        self._threshold = threshold_mev
        self.name = name
        self._depth = layer_depth_mm()

    # ------------------------------------------------------------------ Geometry interface
    @property
    def n_layers(self) -> int:
        return N_LAYERS

    @property
    def layer_depth_mm(self) -> np.ndarray:
        return self._depth.copy()

    @property
    def threshold_mev(self) -> float:
        return self._threshold

    def get_config(self) -> dict[str, Any]:
        return {
            "n_alpha": self.n_alpha,
            "n_r": self.n_r,
            "radial_bin_mm": self.radial_bin_mm,
            "threshold_mev": self._threshold,
            "name": self.name,
        }

    # ------------------------------------------------------------------ the mesh
    @property
    def n_voxels(self) -> int:
        return N_LAYERS * self.n_alpha * self.n_r

    @property
    def radial_edges_mm(self) -> np.ndarray:
        """``(n_r + 1,)`` radial bin edges, mm."""
        return self.radial_bin_mm * np.arange(self.n_r + 1)

    @property
    def alpha_edges(self) -> np.ndarray:
        """``(n_alpha + 1,)`` angular bin edges, rad, from −π to π."""
        return np.linspace(-math.pi, math.pi, self.n_alpha + 1)

    def voxel_fields(self, voxel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(layer, alpha_bin, r_bin)`` of voxel indices (radial fastest, then angle, then layer)."""
        voxel = np.asarray(voxel, dtype=np.int64)
        rest, r = np.divmod(voxel, self.n_r)
        layer, alpha = np.divmod(rest, self.n_alpha)
        return layer, alpha, r

    def voxel_centre_mm(self, voxel) -> np.ndarray:
        """``(..., 3)`` voxel centres ``(x, y, depth)`` relative to the particle's axis, mm; NaN for ``-1``.

        The centre of the radial bin at the centre of the angular bin.
        """
        voxel = np.asarray(voxel, dtype=np.int64)
        valid = voxel >= 0
        layer, alpha, r = self.voxel_fields(np.where(valid, voxel, 0))
        radius = (r + 0.5) * self.radial_bin_mm
        angle = -math.pi + (alpha + 0.5) * (2 * math.pi / self.n_alpha)
        centre = np.stack([radius * np.cos(angle), radius * np.sin(angle), self._depth[layer]], axis=-1)
        return np.where(valid[..., None], centre, np.nan)

    def cell_centre_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` voxel centres in the frame of a particle entering along ``+z`` at the
        origin of the cylinder's inner face (the detector has no other frame); NaN for ``-1``."""
        return self.voxel_centre_mm(cell_id)

    # ------------------------------------------------------------------ projection
    def _check(self, showers: Showers, incident_point_mm) -> None:
        check_training_points(self, showers)
        if incident_point_mm is not None and np.any(np.asarray(incident_point_mm, dtype=np.float64) != 0):
            raise ValueError(
                f"{self.name}: the CaloChallenge readout is a mesh centred on the particle's axis, so it "
                "has no incident point to choose: give none (or zeros)"
            )
        d = showers.direction
        if not np.all(np.isfinite(d)) or np.any(np.abs(np.linalg.norm(d, axis=-1) - 1) > UNIT_TOLERANCE):
            raise ValueError(f"{self.name}: shower directions must be finite unit vectors")
        if np.any(d[:, 2] <= 0):
            raise ValueError(
                f"{self.name}: a shower direction points out of the calorimeter: p_z must be > 0 "
                f"(got {d[d[:, 2] <= 0][:3, 2].tolist()})"
            )

    def project(self, showers: Showers, incident_point_mm=None) -> CellHits:
        """Sum training points into voxels.

        Args:
            showers: training points (``x, y`` relative to the trajectory, ``z`` in layer units,
                ``e`` the silicon's energy in MeV).
            incident_point_mm: ``None`` (or zeros): the mesh follows the particle.

        Returns:
            :class:`~calozoo.interfaces.CellHits`: one point per voxel above the threshold at
            the voxel's centre (``z`` = layer + 0.5), its energy in the silicon, cell ids the
            voxel indices; losses: beyond the last radial bin (``outside_mev``), outside the 45
            layers (with a :class:`~calozoo.interfaces.MissingLayersWarning`), below threshold.

        Raises:
            ValueError: points not in layer units or NaN, an incident point off the axis,
                directions that are not unit vectors or point backwards.
        """
        self._check(showers, incident_point_mm)
        n = len(showers)
        points, shower = showers.flat()
        x, y, z, e = points.astype(np.float64).T
        if not np.all(np.isfinite(points)):
            raise ValueError(f"{self.name}: the showers' points contain NaN or infinite values")
        layer = np.floor(z).astype(np.int64)
        in_layers = (layer >= 0) & (layer < N_LAYERS)
        r_bin = np.floor(np.hypot(x, y) / self.radial_bin_mm).astype(np.int64)
        alpha = np.floor((np.arctan2(y, x) + math.pi) * (self.n_alpha / (2 * math.pi))).astype(np.int64)
        alpha = np.clip(alpha, 0, self.n_alpha - 1)  # atan2 = π lands in the last bin
        inside = r_bin < self.n_r
        alive = in_layers & inside
        beyond = in_layers & ~inside
        key = (layer * self.n_alpha + alpha) * self.n_r + r_bin
        s, key, energy = cell_sums(shower[alive], key[alive], e[alive])
        keep = energy >= self._threshold
        below_mev = sum_per_shower(s[~keep], energy[~keep], n)
        s, key, energy = s[keep], key[keep], energy[keep]
        centre = self.voxel_centre_mm(key)
        xyz = np.column_stack([centre[:, 0], centre[:, 1], self.voxel_fields(key)[0] + 0.5])
        losses = EnergyLosses.zeros(
            n,
            below_threshold_mev=below_mev,
            outside_layers_mev=sum_per_shower(shower[~in_layers], e[~in_layers], n),
            outside_mev=sum_per_shower(shower[beyond], e[beyond], n),
        )
        warn_missing_layers(self, showers, losses)
        return pad_cell_hits(showers, s, key, xyz, energy, losses)

    # ------------------------------------------------------------------ the files' layout
    def to_voxels(self, hits: CellHits) -> VoxelShowers:
        """The CaloChallenge file layout of projected showers: ``(N, n_voxels)`` stored MeV
        (the silicon's energy divided by the sampling fraction 0.033), incident energies in GeV."""
        if not isinstance(hits, CellHits):
            raise TypeError(f"to_voxels takes the CellHits of {self.name}.project, got {type(hits).__name__}")
        ids, mask = hits.cell_id, hits.showers.padding_mask
        if np.any(ids[mask] >= self.n_voxels):
            raise ValueError(
                f"{self.name}: cell ids beyond {self.n_voxels} voxels: these hits come from another geometry"
            )
        out = np.zeros((len(hits), self.n_voxels), dtype=np.float64)
        rows = np.broadcast_to(np.arange(len(hits))[:, None], ids.shape)[mask]
        np.add.at(out, (rows, ids[mask]), hits.showers.points[..., 3][mask].astype(np.float64))
        return VoxelShowers(out / SAMPLING_FRACTION, hits.showers.incident_energy_gev)

    def from_voxels(self, voxels: VoxelShowers, pdg: int = 11) -> CellHits:
        """Cell hits of voxel showers read from a CaloChallenge file (the inverse of :meth:`to_voxels`).

        One point per non-zero voxel at its centre with the silicon's energy (stored x 0.033),
        normal incidence, particle ``pdg`` (the datasets hold electrons); no losses are known.
        """
        if not isinstance(voxels, VoxelShowers):
            raise TypeError(f"from_voxels takes calozoo.io.VoxelShowers, got {type(voxels).__name__}")
        if voxels.num_voxels != self.n_voxels:
            raise ValueError(
                f"{self.name} has {self.n_voxels} voxels ({N_LAYERS} layers x {self.n_alpha} angles x "
                f"{self.n_r} radii) but the showers have {voxels.num_voxels}: another dataset's file?"
            )
        shower, voxel = np.nonzero(voxels.energies_mev)
        energy = voxels.energies_mev[shower, voxel].astype(np.float64) * SAMPLING_FRACTION
        centre = self.voxel_centre_mm(voxel)
        xyz = np.column_stack([centre[:, 0], centre[:, 1], self.voxel_fields(voxel)[0] + 0.5])
        n = len(voxels)
        normal = np.tile([0.0, 0.0, 1.0], (n, 1))
        frame = Showers(
            np.zeros((n, 0, 4)), np.zeros(n), voxels.incident_energy_gev, normal, np.full(n, pdg), "layer"
        )
        return pad_cell_hits(frame, shower, voxel.astype(np.int64), xyz, energy, EnergyLosses.zeros(n))

    def describe(self) -> str:
        return (
            f"{self.name}: CaloChallenge Si-W cylinder, {N_LAYERS} layers x {self.n_alpha} angles x "
            f"{self.n_r} radii of {self.radial_bin_mm} mm ({self.n_voxels} voxels), threshold "
            f"{self.threshold_mev * 1000:g} keV in the silicon"
        )


def dataset2(threshold_mev: float | None = None, name: str = "calochallenge-ds2") -> CaloChallengeVoxels:
    """The readout of CaloChallenge dataset 2: 16 angles x 9 radii of 4.65 mm, 6480 voxels."""
    return CaloChallengeVoxels(16, 9, 4.65, threshold_mev, name)


def dataset3(threshold_mev: float | None = None, name: str = "calochallenge-ds3") -> CaloChallengeVoxels:
    """The readout of CaloChallenge dataset 3: 50 angles x 18 radii of 2.325 mm, 40500 voxels."""
    return CaloChallengeVoxels(50, 18, 2.325, threshold_mev, name)
