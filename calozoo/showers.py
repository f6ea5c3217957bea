"""The in-memory shower data model: padded point clouds with their incident conditions.

A :class:`Showers` holds ``N`` showers as one padded array of points ``(N, P, 4)`` with the
columns ``(x, y, z, e)``:

- ``x``, ``y`` in mm, in the local shower frame (x along the beam, y across it, both in the
  layer plane);
- ``z`` through the layers, either in *layer units* (layer ``i`` occupies ``[i, i + 1)``, the
  convention of generated point clouds and of CaloClouds files) or in mm (raw hits), as stated by
  :attr:`Showers.z_units`;
- ``e`` the deposited energy in **MeV**.

Shower ``i`` owns the first ``num_points[i]`` rows of ``points[i]``; the rest is padding and is
exactly zero. Every shower carries its incident energy in **GeV**, its unit direction in the
local frame (``p_z > 0``) and the PDG id of the incident particle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import showerdata

__all__ = ["Showers", "concatenate", "layer_index", "tilt_xy_mm", "PHOTON", "ELECTRON", "POSITRON", "Z_UNITS"]

PHOTON = 22
ELECTRON = 11
POSITRON = -11

#: Accepted values of :attr:`Showers.z_units`.
Z_UNITS = ("layer", "mm")

MEV_PER_GEV = 1000.0


def layer_index(z, n_layers: int) -> np.ndarray:
    """The layer of points with ``z`` in layer units: ``floor(z)``, clipped to ``0 .. n_layers - 1``.

    >>> layer_index([-0.2, 0.0, 3.7, 30.0], 30).tolist()
    [0, 0, 3, 29]
    """
    return np.clip(np.floor(np.asarray(z)), 0, n_layers - 1).astype(np.int64)


def tilt_xy_mm(direction, depth_mm) -> np.ndarray:
    """Where the incident trajectory sits at ``depth_mm`` behind the entry point: ``d (p_x, p_y) / p_z``.

    The one tilt of calozoo: preprocessing removes it, projection re-applies it, evaluation and
    calibration measure about it. ``direction`` ``(..., 3)`` with ``p_z > 0`` (unchecked here;
    :func:`calozoo.preprocessing.trajectory_xy_mm` checks), ``depth_mm`` broadcast against its
    leading dimensions; returns ``(..., 2)`` float64 mm.

    >>> tilt_xy_mm([0.6, 0.0, 0.8], [0.0, 8.0]).round(9).tolist()
    [[0.0, 0.0], [6.0, 0.0]]
    """
    direction = np.asarray(direction, dtype=np.float64)
    return np.asarray(depth_mm, dtype=np.float64)[..., None] * (direction[..., :2] / direction[..., 2:3])


def batch_index(index, n: int) -> slice | np.ndarray:
    """Normalise a shower selection: an int becomes a batch of one, arrays must be 1-d."""
    if isinstance(index, (int, np.integer)):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"shower index {i} out of range for {n} showers")
        return slice(i % n, i % n + 1)
    if isinstance(index, slice):
        return index
    index = np.asarray(index)
    if index.ndim != 1:
        raise IndexError("select showers with an int, a slice or a 1-d index array")
    return index


@dataclass(eq=False)
class Showers:
    """A batch of showers as padded point clouds.

    Args:
        points: ``(N, P, 4)`` float32, columns ``x [mm], y [mm], z [layer or mm], e [MeV]``,
            padding after the first ``num_points[i]`` rows of shower ``i`` (all zero).
        num_points: ``(N,)`` number of real points per shower.
        incident_energy_gev: ``(N,)`` kinetic energy of the incident particle in GeV.
        direction: ``(N, 3)`` unit direction of the incident particle in the local frame.
        pdg: ``(N,)`` PDG id of the incident particle (22 for photons).
        z_units: ``"layer"`` or ``"mm"``: what the ``z`` column measures.

    Example:
        >>> import numpy as np
        >>> s = Showers.from_point_lists([np.array([[0., 0., 0.5, 1.2]])], [10.0])
        >>> s.points.shape, float(s.visible_energy_mev[0])
        ((1, 1, 4), 1.2000000476837158)
    """

    points: np.ndarray
    num_points: np.ndarray
    incident_energy_gev: np.ndarray
    direction: np.ndarray
    pdg: np.ndarray
    z_units: str = "layer"

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float32)
        n = self.points.shape[0] if self.points.ndim == 3 else -1
        self.num_points = np.asarray(self.num_points, dtype=np.int64).reshape(-1)
        self.incident_energy_gev = np.asarray(self.incident_energy_gev, dtype=np.float64).reshape(-1)
        self.direction = np.asarray(self.direction, dtype=np.float64)
        pdg = np.asarray(self.pdg, dtype=np.int32)
        self.pdg = np.full(max(n, 0), int(pdg), dtype=np.int32) if pdg.ndim == 0 else pdg.reshape(-1)
        if self.points.ndim != 3 or self.points.shape[2] != 4:
            raise ValueError(f"points must have shape (N, P, 4), got {self.points.shape}")
        for label, array, shape in (
            ("num_points", self.num_points, (n,)),
            ("incident_energy_gev", self.incident_energy_gev, (n,)),
            ("direction", self.direction, (n, 3)),
            ("pdg", self.pdg, (n,)),
        ):
            if array.shape != shape:
                raise ValueError(f"{label} must have shape {shape} for {n} showers, got {array.shape}")
        if self.z_units not in Z_UNITS:
            raise ValueError(f"z_units must be one of {Z_UNITS}, got {self.z_units!r}")
        if np.any(self.num_points < 0) or np.any(self.num_points > self.points.shape[1]):
            raise ValueError(
                f"num_points must lie in [0, {self.points.shape[1]}] (the padded length), "
                f"got values from {self.num_points.min()} to {self.num_points.max()}"
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, z_units: str = "layer") -> Showers:
        """No showers at all (useful as the start of a concatenation)."""
        return cls(np.zeros((0, 0, 4), np.float32), [], [], np.zeros((0, 3)), [], z_units)

    @classmethod
    def from_point_lists(
        cls,
        point_lists: Sequence[np.ndarray],
        incident_energy_gev: Sequence[float] | np.ndarray,
        direction: Sequence[Sequence[float]] | np.ndarray | None = None,
        pdg: int | Sequence[int] = PHOTON,
        z_units: str = "layer",
    ) -> Showers:
        """Build from one ``(n_i, 4)`` array per shower (energies in MeV).

        ``direction`` defaults to normal incidence ``(0, 0, 1)``.
        """
        counts = np.array([len(p) for p in point_lists], dtype=np.int64)
        width = int(counts.max()) if len(counts) else 0
        points = np.zeros((len(point_lists), width, 4), dtype=np.float32)
        for i, cloud in enumerate(point_lists):
            cloud = np.asarray(cloud, dtype=np.float32)
            if cloud.ndim != 2 or cloud.shape[1] != 4:
                raise ValueError(f"shower {i}: points must have shape (n, 4), got {cloud.shape}")
            points[i, : len(cloud)] = cloud
        n = len(point_lists)
        if direction is None:
            direction = np.tile([0.0, 0.0, 1.0], (n, 1))
        return cls(points, counts, incident_energy_gev, direction, pdg, z_units)

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Showers:
        """Select showers; an integer gives a batch of one. Padding is trimmed to the longest."""
        index = batch_index(index, len(self))
        num_points = self.num_points[index]
        width = int(num_points.max()) if len(num_points) else 0
        return Showers(
            self.points[index, :width],
            num_points,
            self.incident_energy_gev[index],
            self.direction[index],
            self.pdg[index],
            self.z_units,
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        """Iterate over the showers' real points, one ``(n_i, 4)`` array each."""
        for i in range(len(self)):
            yield self.points[i, : self.num_points[i]]

    def __repr__(self) -> str:
        if len(self) == 0:
            return f"Showers(0 showers, z in {self.z_units})"
        return (
            f"Showers({len(self)} showers, {int(self.num_points.min())}-{int(self.num_points.max())} "
            f"points, E = {self.incident_energy_gev.min():.3g}-{self.incident_energy_gev.max():.3g} GeV, "
            f"z in {self.z_units})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Showers) or len(self) != len(other) or self.z_units != other.z_units:
            return False
        if not np.array_equal(self.num_points, other.num_points):
            return False
        width = int(self.num_points.max()) if len(self) else 0
        return (
            np.array_equal(self.points[:, :width], other.points[:, :width])
            and np.array_equal(self.incident_energy_gev, other.incident_energy_gev)
            and np.array_equal(self.direction, other.direction)
            and np.array_equal(self.pdg, other.pdg)
        )

    def allclose(self, other: Showers, rtol: float = 1e-6, atol: float = 0.0) -> bool:
        """Equal up to float rounding (after unit conversions, float32 storage); ``==`` is exact."""
        if not isinstance(other, Showers) or len(self) != len(other) or self.z_units != other.z_units:
            return False
        if not np.array_equal(self.num_points, other.num_points) or not np.array_equal(self.pdg, other.pdg):
            return False
        width = int(self.num_points.max()) if len(self) else 0
        return (
            np.allclose(self.points[:, :width], other.points[:, :width], rtol=rtol, atol=atol)
            and np.allclose(self.incident_energy_gev, other.incident_energy_gev, rtol=rtol, atol=atol)
            and np.allclose(self.direction, other.direction, rtol=rtol, atol=max(atol, 1e-7))
        )

    def batches(self, batch_size: int) -> Iterator[Showers]:
        """Yield consecutive batches of at most ``batch_size`` showers."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        for start in range(0, len(self), batch_size):
            yield self[start : start + batch_size]

    def shower(self, i: int) -> np.ndarray:
        """The real points of shower ``i`` as an ``(n_i, 4)`` array (a view, not a copy)."""
        return self.points[i, : self.num_points[i]]

    # ------------------------------------------------------------------ flat points
    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """All real points in one ``(M, 4)`` array, shower by shower, and ``owner`` ``(M,)``:
        the shower of each point. :meth:`from_flat` is the way back.

        >>> s = Showers.from_point_lists([np.ones((2, 4)), np.ones((1, 4))], [10.0, 20.0])
        >>> points, owner = s.flat()
        >>> points.shape, owner.tolist()
        ((3, 4), [0, 0, 1])
        """
        mask = self.padding_mask
        owner = np.broadcast_to(np.arange(len(self))[:, None], mask.shape)[mask]
        return self.points[mask], owner

    @classmethod
    def from_flat(
        cls,
        points: np.ndarray,
        owner: np.ndarray,
        incident_energy_gev,
        direction=None,
        pdg=PHOTON,
        z_units: str = "layer",
    ) -> Showers:
        """Padded showers from flat ``(M, 4)`` points and their ``owner`` (sorted: shower-major).

        The number of showers is that of ``incident_energy_gev``; a shower no point belongs to is empty.
        """
        energy = np.asarray(incident_energy_gev, dtype=np.float64).reshape(-1)
        points = np.asarray(points, dtype=np.float32).reshape(-1, 4)
        owner = np.asarray(owner, dtype=np.int64).reshape(-1)
        if len(owner) != len(points) or np.any(np.diff(owner) < 0) or np.any(owner >= len(energy)):
            raise ValueError(
                "owner must give, for each point, its shower index in increasing order "
                f"(below {len(energy)}); got {len(owner)} owners for {len(points)} points"
            )
        num = np.bincount(owner, minlength=len(energy))
        start = np.cumsum(num) - num
        padded = np.zeros((len(energy), int(num.max()) if len(points) else 0, 4), np.float32)
        padded[owner, np.arange(len(owner)) - start[owner]] = points
        if direction is None:
            direction = np.tile([0.0, 0.0, 1.0], (len(energy), 1))
        direction = np.broadcast_to(np.asarray(direction, dtype=np.float64), (len(energy), 3))
        return cls(padded, num, energy, direction.copy(), pdg, z_units)

    def layer_sums(self, n_layers: int) -> tuple[np.ndarray, np.ndarray]:
        """``(N, n_layers)`` points per layer and ``(N, n_layers)`` energy per layer in MeV
        (training points: layer ``i`` holds ``i <= z < i + 1``, :func:`layer_index`)."""
        if self.z_units != "layer":
            raise ValueError(f"layer sums need z in layer units, got z_units={self.z_units!r}")
        points, owner = self.flat()
        group = owner * n_layers + layer_index(points[:, 2], n_layers)
        size = len(self) * n_layers
        counts = np.bincount(group, minlength=size).reshape(len(self), n_layers)
        energy = np.bincount(group, weights=points[:, 3].astype(np.float64), minlength=size)
        return counts.astype(np.int64), energy.reshape(len(self), n_layers)

    # ------------------------------------------------------------------ physics summaries
    @property
    def visible_energy_mev(self) -> np.ndarray:
        """``(N,)`` summed point energy per shower in MeV."""
        return self.points[:, :, 3].sum(axis=1, dtype=np.float64)

    @property
    def padding_mask(self) -> np.ndarray:
        """``(N, P)`` boolean, True for real points."""
        return np.arange(self.points.shape[1])[None, :] < self.num_points[:, None]

    def check_padding(self) -> None:
        """Raise ``ValueError`` if padding is not all zero or a real point has a negative energy."""
        mask = self.padding_mask
        if np.any(self.points[~mask] != 0):
            raise ValueError("padding rows (beyond num_points) must be exactly zero")
        if np.any(self.points[..., 3][mask] < 0):
            raise ValueError("point energies must be non-negative")
        if not np.all(np.isfinite(self.points)):
            raise ValueError("points contain NaN or infinite values")

    # ------------------------------------------------------------------ showerdata bridge
    def to_showerdata(self) -> showerdata.Showers:
        """Convert to ``showerdata.Showers`` (its convention: energies in GeV)."""
        import showerdata

        points = self.points.copy()
        points[..., 3] /= MEV_PER_GEV
        return showerdata.Showers(
            points=points,
            energies=self.incident_energy_gev.reshape(-1, 1),
            pdg=self.pdg,
            directions=self.direction,
            num_points=self.num_points,
        )

    @classmethod
    def from_showerdata(cls, data: showerdata.Showers, z_units: str = "layer") -> Showers:
        """Build from ``showerdata.Showers`` (energies in GeV there, MeV here).

        A fifth point column (time, in some files) is dropped.
        """
        points = np.array(data.points[..., :4], dtype=np.float32)
        points[..., 3] *= MEV_PER_GEV
        # showerdata keeps the counts private; fall back to counting non-zero energies.
        num_points = getattr(data, "_num_points", None)
        if num_points is None:
            num_points = np.count_nonzero(points[..., 3], axis=1)
        return cls(
            points, num_points, np.asarray(data.energies).reshape(-1), data.directions, data.pdg, z_units
        )


def concatenate(parts: Sequence[Showers]) -> Showers:
    """Join batches of showers into one, padding to the widest."""
    parts = [p for p in parts]
    if not parts:
        return Showers.empty()
    units = {p.z_units for p in parts}
    if len(units) > 1:
        raise ValueError(f"cannot concatenate showers with different z units: {sorted(units)}")
    width = max(p.points.shape[1] for p in parts)
    points = np.zeros((sum(len(p) for p in parts), width, 4), dtype=np.float32)
    start = 0
    for p in parts:
        points[start : start + len(p), : p.points.shape[1]] = p.points
        start += len(p)
    return Showers(
        points,
        np.concatenate([p.num_points for p in parts]),
        np.concatenate([p.incident_energy_gev for p in parts]),
        np.concatenate([p.direction.reshape(-1, 3) for p in parts]),
        np.concatenate([p.pdg for p in parts]),
        units.pop(),
    )
