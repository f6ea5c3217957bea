"""A photon finder on calorimeter cell hits, in the spirit of ILD's GARLIC and Pandora's photon finding.

The algorithm (the same for every model and for the reference, so comparisons are fair):

1. **The shower's view.** Hits are grouped friend-of-friend (cells within a few cell pitches
   of one another, in 3-D, are linked), and each group is seen along its shower direction, so
   that a photon's core cells in all layers line up behind one another. Photons come from the
   interaction point (the *vertex*, the global origin unless told otherwise), so by default
   (``view="pointing"``) that direction is the line of sight from the vertex to the group's
   energy-weighted centroid. For photons that do not come from the vertex (``view="axis"``) it
   is the line through the energy-weighted centroids of the group's layers: two photons side by
   side share it, as their layer centroids lie between them.
2. **Cores.** The energy seen along the axis is binned at the cell pitch and smoothed with a Gaussian of
   one cell; local maxima whose core (the 5 x 5 cells about them) holds at least
   ``seed_min_mev`` are seeds, in decreasing order of height (GARLIC's energetic cores).
3. **Splitting.** A seed becomes a photon of its own only if the smoothed energy between it and
   every higher accepted seed dips below ``valley`` times its own height: two cores are resolved
   when a valley separates them; a shoulder on one shower is not a second photon.
4. **Attaching.** Every hit joins the core that draws it most, ``core energy x exp(-d / λ)``
   with ``d`` its distance from the core across the axis and ``λ`` = ``attach_length_mm``: the
   shower's direction and transverse profile decide, not the cell's 3-D distance.
5. **Candidates.** Fragments are folded back, smallest first: a cluster with less than
   ``min_energy_gev`` after calibration joins the nearest photon within ``merge_radius_mm`` (or
   is left unassigned), and a cluster with less than ``fragment_fraction`` of the energy of a
   photon within ``fragment_radius_mm`` joins it (a fluctuation of that photon's halo, as
   Pandora's fragment removal folds them back). Each photon gets its calibrated energy
   (:class:`PhotonCalibration`: one weight per group of layers, fitted on reference showers so
   that energy is linear), its energy-weighted centroid, and its direction from an
   energy-weighted PCA of its hits (all hits, and the top 4 % by energy, as in the CaloClouds3
   paper's internal angle).

What it leaves out (and what the full ILD reconstruction has): tracks and charged-cluster
vetoes, the HCAL, Pandora's iterative re-clustering and its likelihood-based photon ID; a soft
photon within ``fragment_radius_mm`` of one twenty times harder is taken for its fragment. It
reads only cell positions, energies and layers, and the geometry's cell size, layer groups and
calibration, so it works in any geometry plugin that gives its cells' positions
(:meth:`calozoo.interfaces.Geometry.cell_centre_mm`). Deterministic: the same hits give the same photons.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..evaluation.angles import principal_axis, top_energy_mask
from .events import Events, ReconstructionError

__all__ = [
    "PhotonFinder",
    "PhotonCalibration",
    "Photons",
    "find_photons",
    "global_angles",
    "TOP_FRACTION",
    "VIEWS",
    "default_calibration",
]

#: Share of a photon's most energetic hits its core direction is fitted on (the paper's 4 %).
TOP_FRACTION = 0.04
_MIN_PCA_HITS = 3
#: How the finder looks at a group of hits (:class:`PhotonFinder` ``view``).
VIEWS = ("pointing", "axis")
_MAX_GRID = 400  # bins per side of one group's image (2 m at the ILD cell size)


# ---------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class PhotonCalibration:
    """Reconstructed energy from cell energies: ``E = Σ_g w_g · (energy in layers of group g)``.

    One weight (GeV per MeV of deposit) per group of layers with the same absorber: a sampling
    calorimeter's visible fraction is the same within a group. :meth:`fit` finds the weights on
    reference photons of known energy by least squares on ``E_reco / E_true - 1`` (so every
    energy counts alike).

    Args:
        groups: ``[(first, stop), ...]`` layer ranges covering ``0 .. n_layers - 1``.
        weights: one weight per group, GeV per MeV.

    >>> cal = PhotonCalibration([(0, 2), (2, 4)], [0.04, 0.08])
    >>> round(float(cal.energy_gev(np.array([[10.0, 10.0, 5.0, 5.0]]))[0]), 6)
    1.6
    """

    groups: tuple
    weights: tuple

    def __post_init__(self) -> None:
        groups = tuple((int(a), int(b)) for a, b in self.groups)
        weights = tuple(float(w) for w in self.weights)
        if not groups or groups[0][0] != 0 or any(b <= a for a, b in groups):
            raise ReconstructionError(
                f"calibration: groups must be non-empty layer ranges from 0, got {groups}"
            )
        if any(groups[i][1] != groups[i + 1][0] for i in range(len(groups) - 1)):
            raise ReconstructionError(
                f"calibration: groups must follow one another without gaps, got {groups}"
            )
        if len(weights) != len(groups) or not all(np.isfinite(weights)):
            raise ReconstructionError(f"calibration: one finite weight per group, got {weights} for {groups}")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "weights", weights)

    @property
    def n_layers(self) -> int:
        return self.groups[-1][1]

    def layer_weights(self) -> np.ndarray:
        """``(n_layers,)`` GeV per MeV in each layer."""
        w = np.empty(self.n_layers)
        for (a, b), value in zip(self.groups, self.weights):
            w[a:b] = value
        return w

    def group_sums(self, layer_energy_mev: np.ndarray) -> np.ndarray:
        """``(K, n_groups)`` deposits per group from ``(K, n_layers)`` deposits per layer."""
        return np.stack([layer_energy_mev[:, a:b].sum(axis=1) for a, b in self.groups], axis=1)

    def energy_gev(self, layer_energy_mev: np.ndarray) -> np.ndarray:
        """``(K,)`` reconstructed energies from ``(K, n_layers)`` deposits per layer (MeV)."""
        return self.group_sums(np.asarray(layer_energy_mev, dtype=np.float64)) @ np.asarray(self.weights)

    @classmethod
    def fit(cls, layer_energy_mev, true_energy_gev, groups) -> PhotonCalibration:
        """Weights that make ``energy_gev`` match ``true_energy_gev`` (least squares on the ratio).

        Args:
            layer_energy_mev: ``(K, n_layers)`` deposits per layer of ``K`` reconstructed photons.
            true_energy_gev: ``(K,)`` their true energies.
            groups: the layer groups (:attr:`groups`).

        Raises:
            ReconstructionError: fewer photons than groups, or shapes that do not match.
        """
        layer = np.asarray(layer_energy_mev, dtype=np.float64)
        truth = np.asarray(true_energy_gev, dtype=np.float64)
        probe = cls(groups, [1.0] * len(groups))
        if layer.ndim != 2 or layer.shape[1] != probe.n_layers or truth.shape != (len(layer),):
            raise ReconstructionError(
                f"calibration fit: need (K, {probe.n_layers}) layer deposits and (K,) energies, got "
                f"{layer.shape} and {truth.shape}"
            )
        if len(truth) < 2 * len(groups) or np.any(truth <= 0):
            raise ReconstructionError(
                f"calibration fit: need at least {2 * len(groups)} photons of positive energy, "
                f"got {len(truth)}"
            )
        design = probe.group_sums(layer) / truth[:, None]
        weights, *_ = np.linalg.lstsq(design, np.ones(len(truth)), rcond=None)
        return cls(groups, weights)

    def to_json(self) -> str:
        return json.dumps({"groups": [list(g) for g in self.groups], "weights": list(self.weights)})

    @classmethod
    def from_json(cls, text: str) -> PhotonCalibration:
        data = json.loads(text)
        return cls(data["groups"], data["weights"])


def default_calibration(geometry) -> PhotonCalibration:
    """The geometry's own calibration (attribute ``photon_calibration``), else one weight that
    turns MeV into GeV (``0.001``: visible energy, uncalibrated) over its layer groups."""
    shipped = getattr(geometry, "photon_calibration", None)
    if shipped is not None:
        return shipped if isinstance(shipped, PhotonCalibration) else PhotonCalibration(**shipped)
    groups = getattr(geometry, "calibration_layer_groups", None) or ((0, geometry.n_layers),)
    return PhotonCalibration(groups, [1e-3] * len(groups))


# ---------------------------------------------------------------------------- output
@dataclass(eq=False)
class Photons:
    """Reconstructed photon candidates of ``n_events`` events, flat and sorted by event, then by
    decreasing energy.

    Attributes:
        n_events: events reconstructed (some may have no photon).
        event: ``(K,)`` event of each photon.
        energy_gev: ``(K,)`` calibrated energy.
        visible_mev: ``(K,)`` summed cell energy of its hits.
        position_mm: ``(K, 3)`` energy-weighted centroid of its hits, global.
        direction: ``(K, 3)`` first PCA axis of its energy-weighted hits (pointing away from the
            vertex); NaN with fewer than 3 hits.
        direction_core: ``(K, 3)`` the same from its top 4 % hits by energy (at least 3).
        n_hits: ``(K,)`` hit cells.
        layer_energy_mev: ``(K, n_layers)`` its deposits per layer (what the calibration reads).
        unassigned_mev: ``(n_events,)`` energy of hits that joined no photon.
    """

    n_events: int
    event: np.ndarray
    energy_gev: np.ndarray
    visible_mev: np.ndarray
    position_mm: np.ndarray
    direction: np.ndarray
    direction_core: np.ndarray
    n_hits: np.ndarray
    layer_energy_mev: np.ndarray
    unassigned_mev: np.ndarray

    def __len__(self) -> int:
        return len(self.event)

    @property
    def count(self) -> np.ndarray:
        """``(n_events,)`` photons found per event."""
        return np.bincount(self.event, minlength=self.n_events)

    def leading(self) -> np.ndarray:
        """``(n_events,)`` index of each event's most energetic photon, ``-1`` where none."""
        first = np.full(self.n_events, -1, dtype=np.int64)
        index = np.arange(len(self.event))[::-1]
        first[self.event[::-1]] = index  # the last write per event is its first (most energetic) row
        return first

    def arrays(self) -> dict[str, np.ndarray]:
        """Every column by name (what a photons file holds)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}


# ---------------------------------------------------------------------------- geometry helpers
def global_angles(direction) -> tuple[np.ndarray, np.ndarray]:
    """θ (to the beam, global ``z``) and φ (about it) in degrees of global unit directions."""
    d = np.asarray(direction, dtype=np.float64)
    theta = np.degrees(np.arccos(np.clip(d[..., 2], -1.0, 1.0)))
    phi = np.degrees(np.arctan2(d[..., 1], d[..., 0]))
    return theta, phi


def _components(keys: np.ndarray) -> np.ndarray:
    """Connected components of occupied integer 3-D voxels (26-neighbours): a label per voxel."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if len(keys) == 1:
        return np.zeros(1, dtype=np.int64)
    pairs = cKDTree(keys).query_pairs(1.75, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(keys), len(keys)))
    return connected_components(graph, directed=False)[1]


def _orthonormal(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(helper, axis)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


# ---------------------------------------------------------------------------- the finder
@dataclass
class PhotonFinder:
    """The photon finder (module docstring); settings in mm, MeV of deposit and GeV.

    Args:
        cell_size_mm: the pitch the view along the shower is binned at (the geometry's cell size).
        calibration: energy calibration (:class:`PhotonCalibration`).
        vertex_mm: where the photons come from, global mm (the interaction point).
        seed_min_mev: least deposit in a core (5 x 5 cells) for a seed, MeV.
        valley: a lower seed is a photon of its own if the smoothed energy between it and every
            higher one falls below this fraction of its height.
        attach_length_mm: the length ``λ`` of the attachment weight ``exp(-d / λ)``.
        min_energy_gev: least calibrated energy of a photon candidate.
        merge_radius_mm: how far (from its core's line) a cluster below ``min_energy_gev`` may be
            from a photon to join it.
        fragment_fraction: a photon with less than this share of the energy of a photon within
            ``fragment_radius_mm`` is a fragment of its halo and joins it.
        fragment_radius_mm: see ``fragment_fraction``.
        group_link_cells: coarse grouping pitch, in cells (hits in neighbouring voxels are linked).
        view: ``"pointing"`` (photons from the vertex: each group seen along its line of sight)
            or ``"axis"`` (any photon: along the line through its layers' centroids).
    """

    cell_size_mm: float
    calibration: PhotonCalibration
    vertex_mm: tuple = (0.0, 0.0, 0.0)
    seed_min_mev: float = 5.0
    valley: float = 0.7
    attach_length_mm: float = 5.0
    min_energy_gev: float = 0.5
    merge_radius_mm: float = 60.0
    fragment_fraction: float = 0.05
    fragment_radius_mm: float = 100.0
    group_link_cells: float = 4.0
    view: str = "pointing"
    _vertex: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("cell_size_mm", "attach_length_mm", "group_link_cells"):
            if not float(getattr(self, name)) > 0:
                raise ReconstructionError(
                    f"photon finder: {name} must be positive, got {getattr(self, name)}"
                )
        for name in (
            "seed_min_mev",
            "min_energy_gev",
            "merge_radius_mm",
            "fragment_fraction",
            "fragment_radius_mm",
        ):
            if not float(getattr(self, name)) >= 0:
                raise ReconstructionError(f"photon finder: {name} must be >= 0, got {getattr(self, name)}")
        if self.view not in VIEWS:
            raise ReconstructionError(f"photon finder: view must be one of {VIEWS}, got {self.view!r}")
        if not 0 < self.valley <= 1:
            raise ReconstructionError(f"photon finder: valley must lie in (0, 1], got {self.valley}")
        self._vertex = np.asarray(self.vertex_mm, dtype=np.float64).reshape(3)

    @classmethod
    def for_geometry(cls, geometry, calibration: PhotonCalibration | None = None, **settings) -> PhotonFinder:
        """The finder with the geometry's cell size and calibration (:func:`default_calibration`)."""
        pitch = settings.pop("cell_size_mm", None) or geometry.cell_size_mm
        if pitch is None:
            raise ReconstructionError(
                f"{geometry.name} has no cell_size_mm: give the photon finder cell_size_mm= (mm)"
            )
        calibration = calibration or default_calibration(geometry)
        if calibration.n_layers != geometry.n_layers:
            raise ReconstructionError(
                f"calibration covers {calibration.n_layers} layers, {geometry.name} has {geometry.n_layers}"
            )
        return cls(float(pitch), calibration, **settings)

    def settings(self) -> dict:
        """The settings as plain values (recorded beside every result)."""
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "calibration"}
        out["calibration"] = json.loads(self.calibration.to_json())
        out["vertex_mm"] = list(map(float, self._vertex))
        return out

    # ------------------------------------------------------------------ one event
    def _event_clusters(self, position: np.ndarray, energy: np.ndarray, layer: np.ndarray):
        """Cluster label per hit (``-1`` none) and per cluster its core: ``(point, axis)`` in space."""
        from scipy.ndimage import gaussian_filter, maximum_filter, uniform_filter

        pitch = self.cell_size_mm
        keys = np.floor(position / (self.group_link_cells * pitch)).astype(np.int64)
        voxels, inverse = np.unique(keys, axis=0, return_inverse=True)
        group = _components(voxels)[inverse.reshape(-1)]

        label = np.full(len(energy), -1, dtype=np.int64)
        cores: list = []  # (point on the core's line, axis) per cluster
        next_label = 0
        for g in np.unique(group):
            idx = np.flatnonzero(group == g)
            e = energy[idx]
            centroid = e @ position[idx] / e.sum()
            axis = self._axis(position[idx], e, layer[idx], centroid)
            e1, e2 = _orthonormal(axis)
            rel = position[idx] - centroid
            u, v = rel @ e1, rel @ e2
            # the image of the group's energy seen along its axis, binned at the cell pitch
            lo_u, lo_v = u.min() - 3 * pitch, v.min() - 3 * pitch
            iu = np.clip(((u - lo_u) / pitch).astype(np.int64), 0, _MAX_GRID - 1)
            iv = np.clip(((v - lo_v) / pitch).astype(np.int64), 0, _MAX_GRID - 1)
            shape = (int(iu.max()) + 4, int(iv.max()) + 4)
            image = np.bincount(iu * shape[1] + iv, e, shape[0] * shape[1]).reshape(shape)
            smooth = gaussian_filter(image, 1.0, mode="constant")
            core = uniform_filter(image, 5, mode="constant") * 25.0
            peak = (smooth == maximum_filter(smooth, 3, mode="constant")) & (core >= self.seed_min_mev)
            peak &= smooth > 0
            pu, pv = np.nonzero(peak)
            order = np.lexsort((pv, pu, -smooth[pu, pv]))  # highest first; ties by position
            accepted: list[tuple[int, int]] = []
            for k in order:
                a = (int(pu[k]), int(pv[k]))
                if all(self._resolved(smooth, a, b) for b in accepted):
                    accepted.append(a)
            if not accepted:
                continue
            centre = np.array([[lo_u + (a + 0.5) * pitch, lo_v + (b + 0.5) * pitch] for a, b in accepted])
            strength = np.array([core[a, b] for a, b in accepted])
            d = np.hypot(u[:, None] - centre[None, :, 0], v[:, None] - centre[None, :, 1])
            pull = np.log(strength)[None, :] - d / self.attach_length_mm
            label[idx] = next_label + np.argmax(pull, axis=1)
            for c in centre:
                cores.append((centroid + c[0] * e1 + c[1] * e2, axis))
            next_label += len(accepted)
        return label, cores

    def _resolved(self, smooth: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Whether the smoothed image dips below ``valley`` x the height of ``a`` between ``a`` and ``b``."""
        steps = max(abs(a[0] - b[0]), abs(a[1] - b[1])) * 2 + 1
        t = np.linspace(0.0, 1.0, steps)
        iu = np.rint(a[0] + t * (b[0] - a[0])).astype(np.int64)
        iv = np.rint(a[1] + t * (b[1] - a[1])).astype(np.int64)
        return bool(smooth[iu, iv].min() < self.valley * smooth[a])

    # ------------------------------------------------------------------ many events
    def find(self, events: Events) -> Photons:
        """Photon candidates of every event (deterministic)."""
        if not isinstance(events, Events):
            raise ReconstructionError(
                f"find_photons takes calozoo.reconstruction.Events (from overlay() or events_from_cells()), "
                f"got {type(events).__name__}"
            )
        n_layers = self.calibration.n_layers
        if len(events.layer) and (events.layer.min() < 0 or events.layer.max() >= n_layers):
            raise ReconstructionError(
                f"events have layers {events.layer.min()}..{events.layer.max()}, the calibration {n_layers}"
            )
        cluster_event, cluster_layer, cluster_hits = [], [], []
        hit_cluster = np.full(len(events.event), -1, dtype=np.int64)
        unassigned = np.zeros(events.n_events)
        n_clusters = 0
        for i in range(events.n_events):
            rows = events.hits(i)
            if rows.stop == rows.start:
                continue
            position, energy = events.position_mm[rows], events.energy_mev[rows]
            label, cores = self._event_clusters(position, energy, events.layer[rows])
            if not cores:
                unassigned[i] = energy.sum()
                continue
            k = len(cores)
            layers = events.layer[rows]
            label = self._merge(label, cores, self._layer_sums(label, layers, energy, k))
            unassigned[i] = energy[label < 0].sum()
            layer_e = self._layer_sums(label, layers, energy, k)
            kept = np.unique(label[label >= 0])
            if not len(kept):
                continue
            # the photons of an event in order of decreasing energy
            ordered = kept[np.argsort(-self.calibration.energy_gev(layer_e[kept]), kind="stable")]
            remap = np.full(k, -1, dtype=np.int64)
            remap[ordered] = n_clusters + np.arange(len(ordered))
            hit_cluster[rows] = np.where(label >= 0, remap[np.maximum(label, 0)], -1)
            hits = np.bincount(label[label >= 0], minlength=k)
            cluster_event.extend([i] * len(ordered))
            cluster_layer.extend(layer_e[ordered])
            cluster_hits.extend(hits[ordered].tolist())
            n_clusters += len(ordered)
        return self._photons(
            events, hit_cluster, n_clusters, cluster_event, cluster_layer, cluster_hits, unassigned
        )

    def _layer_sums(self, label: np.ndarray, layer: np.ndarray, energy: np.ndarray, k: int) -> np.ndarray:
        """``(k, n_layers)`` deposits per cluster and layer (hits of no cluster left out)."""
        n_layers = self.calibration.n_layers
        ok = label >= 0
        flat = np.bincount(label[ok] * n_layers + layer[ok], energy[ok], k * n_layers)
        return flat.reshape(k, n_layers)

    def _merge(self, label: np.ndarray, cores: list, layer_e: np.ndarray) -> np.ndarray:
        """Fragments join a photon: clusters below ``min_energy_gev`` the nearest photon within
        ``merge_radius_mm`` (else they go), and photons with less than ``fragment_fraction`` of
        the energy of a photon within ``fragment_radius_mm`` that photon (its halo's fluctuations)."""
        energy = self.calibration.energy_gev(layer_e)
        label = label.copy()
        order = np.argsort(energy, kind="stable")  # smallest first: a fragment goes before its host
        alive = np.ones(len(energy), dtype=bool)
        for c in order:
            small = energy[c] < self.min_energy_gev
            hosts = np.flatnonzero(alive & (energy >= max(self.min_energy_gev, energy[c])))
            hosts = hosts[hosts != c]
            target = -1
            if len(hosts):
                distance = np.array([self._core_distance(cores[h], cores[c]) for h in hosts])
                if small:
                    nearest = int(np.argmin(distance))
                    target = int(hosts[nearest]) if distance[nearest] <= self.merge_radius_mm else -1
                else:
                    near = (distance <= self.fragment_radius_mm) & (
                        energy[c] < self.fragment_fraction * energy[hosts]
                    )
                    target = int(hosts[near][np.argmin(distance[near])]) if near.any() else c
            elif not small:
                target = c
            if target != c:
                label[label == c] = target
                alive[c] = False
                if target >= 0:
                    energy[target] += energy[c]
        return label

    def _axis(self, position: np.ndarray, energy: np.ndarray, layer: np.ndarray, centroid: np.ndarray):
        """A group's shower axis, pointing away from the vertex. ``view="pointing"``: the line of
        sight from the vertex to the group's energy-weighted centroid. ``view="axis"``: the line
        through the energy-weighted centroids of its layers (their first principal axis, each
        weighted by its layer's energy); parallel showers side by side share it (the centroids of
        two showers lie between them, layer after layer). The line of sight for a group in fewer
        than 3 layers."""
        outward = centroid - self._vertex
        outward = outward / np.linalg.norm(outward)
        layers, index = np.unique(layer, return_inverse=True)
        if self.view == "pointing" or len(layers) < _MIN_PCA_HITS:
            return outward
        weight = np.bincount(index, energy)
        centres = (
            np.stack([np.bincount(index, energy * position[:, k]) for k in range(3)], 1) / weight[:, None]
        )
        rel = centres - weight @ centres / weight.sum()
        _, vectors = np.linalg.eigh((rel * weight[:, None]).T @ rel)
        axis = vectors[:, -1]
        return axis if axis @ outward >= 0 else -axis

    @staticmethod
    def _core_distance(a, b) -> float:
        """Distance of core ``b`` from the line of core ``a`` (its point and axis), mm."""
        rel = b[0] - a[0]
        return float(np.linalg.norm(rel - (rel @ a[1]) * a[1]))

    def _photons(
        self, events, hit_cluster, k, cluster_event, cluster_layer, cluster_hits, unassigned
    ) -> Photons:
        n_layers = self.calibration.n_layers
        layer_e = np.array(cluster_layer, dtype=np.float64).reshape(k, n_layers)
        mask = hit_cluster >= 0
        owner = hit_cluster[mask]
        position = events.position_mm[mask]
        weight = events.energy_mev[mask]
        total = np.bincount(owner, weight, k).astype(np.float64)
        centroid = np.stack([np.bincount(owner, weight * position[:, j], k) for j in range(3)], 1).astype(
            np.float64
        )
        centroid /= np.where(total > 0, total, 1.0)[:, None]
        outward = centroid - self._vertex
        direction = principal_axis(owner, position, weight, k, outward, _MIN_PCA_HITS)
        # the top 4 % of each photon's hits by energy (at least 3)
        top = top_energy_mask(owner, weight, TOP_FRACTION, k)
        direction_core = principal_axis(owner[top], position[top], weight[top], k, outward, _MIN_PCA_HITS)
        return Photons(
            n_events=events.n_events,
            event=np.asarray(cluster_event, dtype=np.int64),
            energy_gev=self.calibration.energy_gev(layer_e),
            visible_mev=layer_e.sum(axis=1),
            position_mm=centroid,
            direction=direction,
            direction_core=direction_core,
            n_hits=np.asarray(cluster_hits, dtype=np.int64),
            layer_energy_mev=layer_e,
            unassigned_mev=unassigned,
        )


def find_photons(events: Events, geometry=None, *, calibration: PhotonCalibration | None = None, **settings):
    """Photon candidates of every event (:class:`PhotonFinder`, the module's algorithm).

    Args:
        events: hit cells of whole events (:func:`~calozoo.reconstruction.overlay`).
        geometry: the geometry (a name or object; default the one the events name): its cell
            size and calibration.
        calibration: another energy calibration (:class:`PhotonCalibration`).
        settings: the finder's settings (:class:`PhotonFinder`).

    Returns:
        :class:`Photons`.
    """
    import calozoo

    if geometry is None:
        if not getattr(events, "geometry", ""):
            raise ReconstructionError("find_photons: the events name no geometry; pass geometry=")
        geometry = events.geometry
    if isinstance(geometry, str):
        geometry = calozoo.geometry(geometry)
    return PhotonFinder.for_geometry(geometry, calibration, **settings).find(events)
