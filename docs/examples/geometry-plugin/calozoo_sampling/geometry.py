"""A small sampling calorimeter: tungsten absorbers and silicon sensors, square cells, three modules.

Two geometries of one detector, as the ILD plugin has them:

- :func:`flat`, the regularised detector a model is trained in: the generic
  :class:`calozoo.layered.PlanarGeometry` with this detector's layer depths and cells;
- :class:`SamplingCalorimeter`, the detector as built: three modules side by side along ``x``
  with dead gaps between them, and edges beyond which there is nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calozoo.interfaces import CellHits, EnergyLosses, Geometry, check_training_points, warn_missing_layers
from calozoo.layered import PlanarGeometry, cell_sums, pad_cell_hits, sum_per_shower
from calozoo.showers import Showers, layer_index, tilt_xy_mm

__all__ = ["SamplingCalorimeter", "flat", "layer_depths"]


def layer_depths(n_layers: int = 20, absorber_mm: float = 3.5, sensor_mm: float = 0.5) -> np.ndarray:
    """Depth of each sensor's centre behind the front face: every layer is an absorber, then a sensor."""
    pitch = absorber_mm + sensor_mm
    return np.arange(n_layers) * pitch + absorber_mm + sensor_mm / 2


def flat(**options: Any) -> PlanarGeometry:
    """The regularised detector: the layers and cells of :class:`SamplingCalorimeter`, no gaps or edges."""
    settings = {"cell_size_mm": 10.0, "threshold_mev": 0.05, **options}
    return PlanarGeometry(layer_depths(), name="sampling-calo-flat", **settings)


class SamplingCalorimeter(Geometry):
    """``n_layers`` layers of absorber + sensor under three modules of square cells.

    Module ``k`` (``k = -1, 0, 1``) is ``module_mm`` wide, centred on ``x = k (module_mm + gap_mm)``;
    between modules is ``gap_mm`` of dead material. The modules are ``height_mm`` tall along ``y``,
    centred on ``y = 0``. The default incident point ``(0, 0)`` is the middle of the central
    module. Cell hits come back, as every geometry returns them, relative to the incident point.

    Args:
        n_layers, absorber_mm, sensor_mm: the layer stack (see :func:`layer_depths`).
        cell_size_mm: side of the square cells; ``module_mm`` and ``height_mm`` are whole numbers of cells.
        module_mm, gap_mm, height_mm: the modules and the dead gaps between them.
        threshold_mev: cells below this energy are dropped.
    """

    name = "sampling-calo"
    n_modules = 3

    def __init__(
        self,
        n_layers: int = 20,
        absorber_mm: float = 3.5,
        sensor_mm: float = 0.5,
        cell_size_mm: float = 10.0,
        module_mm: float = 200.0,
        gap_mm: float = 2.0,
        height_mm: float = 400.0,
        threshold_mev: float = 0.05,
    ):
        self.nx, self.ny = round(module_mm / cell_size_mm), round(height_mm / cell_size_mm)
        if not (cell_size_mm > 0 and np.isclose(self.nx * cell_size_mm, module_mm)):
            raise ValueError(f"module_mm ({module_mm}) must be a whole number of cells of {cell_size_mm} mm")
        if not np.isclose(self.ny * cell_size_mm, height_mm):
            raise ValueError(f"height_mm ({height_mm}) must be a whole number of cells of {cell_size_mm} mm")
        if gap_mm < 0 or threshold_mev < 0:
            raise ValueError("gap_mm and threshold_mev must be >= 0")
        self.absorber_mm, self.sensor_mm = float(absorber_mm), float(sensor_mm)
        self.cell_size_mm, self.module_mm, self.gap_mm = float(cell_size_mm), float(module_mm), float(gap_mm)
        self.height_mm, self._threshold = float(height_mm), float(threshold_mev)
        self._depth = layer_depths(int(n_layers), self.absorber_mm, self.sensor_mm)

    # ------------------------------------------------------------------ what the interface asks for
    @property
    def n_layers(self) -> int:
        return len(self._depth)

    @property
    def layer_depth_mm(self) -> np.ndarray:
        return self._depth.copy()

    @property
    def threshold_mev(self) -> float:
        return self._threshold

    def get_config(self) -> dict[str, Any]:
        """The settings ``__init__`` takes: ``save`` writes them, ``load`` rebuilds from them."""
        return {
            "n_layers": self.n_layers,
            "absorber_mm": self.absorber_mm,
            "sensor_mm": self.sensor_mm,
            "cell_size_mm": self.cell_size_mm,
            "module_mm": self.module_mm,
            "gap_mm": self.gap_mm,
            "height_mm": self.height_mm,
            "threshold_mev": self._threshold,
        }

    def project(self, showers: Showers, incident_point_mm=None) -> CellHits:
        """Re-apply the tilt, place at the incident point, sum per cell, account for every MeV.

        Energy outside ``[0, n_layers)`` in depth is ``outside_layers_mev`` (with a warning),
        beyond the modules' outer edges ``outside_mev``, in the gaps ``dead_mev``, and in cells
        below the threshold ``below_threshold_mev``.
        """
        check_training_points(self, showers)  # Showers of training points, or a clear error
        n = len(showers)
        origin = self._incident_points(incident_point_mm, n)
        points, owner = showers.flat()  # all real points, and the shower of each
        x, y, z, e = points.astype(np.float64).T

        # the tilt: training points are relative to the incident axis at their layer's depth
        layer = np.floor(z).astype(np.int64)
        axis = tilt_xy_mm(showers.direction[owner], self._depth[layer_index(z, self.n_layers)])
        x = x + axis[:, 0] + origin[owner, 0]
        y = y + axis[:, 1] + origin[owner, 1]

        # which module, and where across it; then the causes of loss, each point counted once
        pitch = self.module_mm + self.gap_mm
        module = np.floor(x / pitch + 0.5).astype(np.int64)
        u = x - module * pitch + self.module_mm / 2  # [0, module_mm) inside the module
        half = self.n_modules // 2
        in_layers = (layer >= 0) & (layer < self.n_layers)
        within = (np.abs(module) <= half) & (np.abs(y) < self.height_mm / 2)
        beyond = in_layers & ~within
        dead = in_layers & within & ((u < 0) | (u >= self.module_mm))
        live = in_layers & within & ~dead

        ix = np.clip(np.floor(u / self.cell_size_mm).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(np.floor((y + self.height_mm / 2) / self.cell_size_mm).astype(np.int64), 0, self.ny - 1)
        key = ((layer * self.n_modules + module + half) * self.nx + ix) * self.ny + iy
        s, key, energy = cell_sums(owner[live], key[live], e[live])  # one entry per hit cell
        keep = energy >= self._threshold
        losses = EnergyLosses.zeros(
            n,
            below_threshold_mev=sum_per_shower(s[~keep], energy[~keep], n),
            outside_layers_mev=sum_per_shower(owner[~in_layers], e[~in_layers], n),
            outside_mev=sum_per_shower(owner[beyond], e[beyond], n),
            dead_mev=sum_per_shower(owner[dead], e[dead], n),
        )
        s, key, energy = s[keep], key[keep], energy[keep]

        # cell centres from the cell ids, relative to each shower's incident point
        cell_iy, rest = key % self.ny, key // self.ny
        cell_ix, rest = rest % self.nx, rest // self.nx
        cell_module, cell_layer = rest % self.n_modules - half, rest // self.n_modules
        xyz = np.column_stack(
            [
                cell_module * pitch - self.module_mm / 2 + (cell_ix + 0.5) * self.cell_size_mm - origin[s, 0],
                (cell_iy + 0.5) * self.cell_size_mm - self.height_mm / 2 - origin[s, 1],
                cell_layer + 0.5,
            ]
        )
        warn_missing_layers(
            self, showers, losses
        )  # energy in layers this detector lacks is never lost silently
        return pad_cell_hits(showers, s, key, xyz, energy, losses)

    def _incident_points(self, incident_point_mm, n: int) -> np.ndarray:
        """``(n, 2)`` incident points on the front face from ``None``, ``(2,)``, ``(3,)`` or ``(n, 2|3)``."""
        if incident_point_mm is None:
            return np.zeros((n, 2))
        point = np.asarray(incident_point_mm, dtype=np.float64)
        if point.ndim == 1:
            point = np.broadcast_to(point, (n, len(point)))
        if point.shape not in ((n, 2), (n, 3)) or not np.all(np.isfinite(point)):
            raise ValueError(
                f"{self.name}: incident_point_mm must be finite, (2,), (3,), (N, 2) or (N, 3) for N = {n} "
                f"showers, got shape {np.shape(incident_point_mm)}"
            )
        return point[:, :2]
