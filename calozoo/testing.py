"""The conformance kit every plugin runs in its own tests: ``check_model(model, tmp_path)`` for a
model, ``check_geometry(geometry, tmp_path)`` for a geometry.

In the spirit of scikit-learn's ``check_estimator``: one call checks the contract a user relies
on, whatever the model is::

    from calozoo.testing import check_model

    def test_conformance(tmp_path):
        check_model(calozoo.load("mymodel"), tmp_path)

It checks output shapes and units, non-negative energies, zero padding, reproducibility with a
seed, clear rejection of bad conditions, and the save/load round trip. :func:`check_geometry`
checks the projection contract: cell hits one per cell at their centres, energy accounted for
(cell hits plus ``losses`` equal the input, by cause, never negative), the warning for layers the
geometry does not have, the refusal of points in mm and of bare arrays, empty batches, and the save/load round
trip. A failure raises ``AssertionError`` saying which rule was broken.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .conditions import direction_from_angles
from .errors import InvalidConditionError, ModelFolderError
from .interfaces import CellHits, EnergyLosses, Geometry, MissingLayersWarning, ShowerModel
from .showers import Z_UNITS, Showers

__all__ = ["check_model", "check_showers", "bad_conditions", "check_geometry", "check_cell_hits"]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _test_conditions(model: ShowerModel) -> tuple[np.ndarray, np.ndarray]:
    """Four showers spanning the model's energy range, at normal and (if allowed) oblique incidence."""
    cond = model.conditions
    lo, hi = cond.energy_min_gev, cond.energy_max_gev
    energy = np.array([lo, lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo), hi])
    direction = np.tile([0.0, 0.0, 1.0], (4, 1))
    if cond.max_angle_deg > 0:
        tilt = min(cond.max_angle_deg, 40.0) * 0.75
        # tilted along x (the beam) and along y (bending plane) in the local frame, inside the
        # model's angular windows if it has them
        tilt_theta = tilt if cond.theta_deg is None else min(tilt, 0.75 * (90.0 - cond.theta_deg[0]))
        tilt_phi = tilt if cond.phi_deg is None else min(tilt, 0.75 * (90.0 - cond.phi_deg[0]))
        direction[1] = direction_from_angles(90.0 - tilt_theta, 90.0)
        direction[2] = direction_from_angles(90.0, 90.0 - tilt_phi)
    return energy, direction


def check_showers(
    showers: Showers,
    energy: np.ndarray,
    direction: np.ndarray,
    pdg: int,
    n_layers: int | None = None,
    label: str = "model",
) -> None:
    """Check a generated batch against the data-model contract and the conditions asked for."""
    _expect(
        isinstance(showers, Showers),
        f"{label}: sample() must return calozoo.Showers, got {type(showers).__name__}",
    )
    n = len(energy)
    _expect(len(showers) == n, f"{label}: asked for {n} showers, got {len(showers)}")
    _expect(
        showers.points.ndim == 3 and showers.points.shape[0] == n and showers.points.shape[2] == 4,
        f"{label}: points must be (N, P, 4), got {showers.points.shape}",
    )
    _expect(showers.points.dtype == np.float32, f"{label}: points must be float32")
    _expect(bool(np.all(np.isfinite(showers.points))), f"{label}: points contain NaN or inf")
    mask = showers.padding_mask
    _expect(bool(np.all(showers.points[~mask] == 0)), f"{label}: padding beyond num_points must be zero")
    energies = showers.points[..., 3][mask]
    _expect(bool(np.all(energies >= 0)), f"{label}: point energies must be non-negative (MeV)")
    _expect(
        bool(np.all(energies > 0)),
        f"{label}: {int(np.sum(energies == 0))} real points carry zero energy; the CaloClouds file "
        "layout reads such points as padding (drop them, or give them no place in num_points)",
    )
    _expect(
        bool(np.all(showers.visible_energy_mev > 0)),
        f"{label}: every shower must deposit some energy; visible energies (MeV) "
        f"{showers.visible_energy_mev.tolist()}",
    )
    _expect(
        np.allclose(showers.incident_energy_gev, energy),
        f"{label}: incident_energy_gev must echo the requested energies in GeV",
    )
    _expect(
        np.allclose(showers.direction, direction, atol=1e-6),
        f"{label}: direction must echo the requested unit directions",
    )
    _expect(bool(np.all(showers.pdg == pdg)), f"{label}: pdg must echo the requested particle")
    _expect(showers.z_units in Z_UNITS, f"{label}: z_units must be one of {Z_UNITS}")
    if showers.z_units == "layer" and n_layers is not None:
        z = showers.points[..., 2][mask]
        _expect(
            bool(np.all((z >= 0) & (z < n_layers))),
            f"{label}: z in layer units must lie in [0, {n_layers}), got {z.min()}..{z.max()}",
        )
    # Units: a shower's visible energy in MeV is a fraction of its incident energy (GeV * 1000);
    # a model returning GeV would show ~1000x too little, one forgetting the conversion too much.
    fraction = showers.visible_energy_mev / (1000.0 * showers.incident_energy_gev)
    _expect(
        bool(np.all((fraction > 1e-4) & (fraction <= 1.0 + 1e-6))),
        f"{label}: visible/incident energy {fraction.round(5).tolist()} is not in (1e-4, 1]: "
        f"are point energies in MeV and incident energies in GeV?",
    )


def bad_conditions(model: ShowerModel) -> list[tuple[str, dict, str]]:
    """``(what, sample kwargs, word the error must contain)`` for inputs every model must reject."""
    cond = model.conditions
    lo, hi = cond.energy_min_gev, cond.energy_max_gev
    mid = 0.5 * (lo + hi)
    normal = [0.0, 0.0, 1.0]
    cases = [
        ("energy below the range", {"energy": [lo - max(0.5 * lo, 1.0)], "direction": normal}, "energy"),
        ("energy above the range", {"energy": [hi * 1.5 + 1.0], "direction": normal}, "energy"),
        ("NaN energy", {"energy": [float("nan")], "direction": normal}, "nan"),
        ("2-d energy", {"energy": [[mid, mid]], "direction": normal}, "energy"),
        ("non-unit direction", {"energy": [mid], "direction": [0.0, 0.0, 2.0]}, "unit"),
        ("backward direction", {"energy": [mid], "direction": [0.0, 0.0, -1.0]}, "p_z"),
        ("direction in the layer plane", {"energy": [mid], "direction": [1.0, 0.0, 0.0]}, "p_z"),
        ("NaN direction", {"energy": [mid], "direction": [float("nan"), 0.0, 1.0]}, "nan"),
        ("direction of wrong shape", {"energy": [mid, mid], "direction": [[0.0, 1.0]] * 2}, "shape"),
        (
            "directions not matching energies",
            {"energy": [mid, mid, mid], "direction": [normal, normal]},
            "shape",
        ),
    ]
    if 2212 not in cond.pdg:
        cases.append(("unsupported particle (proton)", {"energy": [mid], "pdg": 2212}, "pdg"))
    if cond.max_angle_deg < 89:
        too_steep = direction_from_angles(90.0 - min(cond.max_angle_deg + 10.0, 85.0), 90.0)
        cases.append(("direction beyond the allowed angle", {"energy": [mid], "direction": too_steep}, "deg"))
    if cond.phi_deg is not None and cond.phi_deg[0] > 1.0:
        outside = direction_from_angles(90.0, max(cond.phi_deg[0] - 10.0, 0.5 * cond.phi_deg[0]))
        cases.append(("direction outside the phi window", {"energy": [mid], "direction": outside}, "phi"))
    return cases


class _SomeOtherModel(ShowerModel):
    """Used to prove that a model folder refuses to load as another class."""

    name = "some-other-model"
    conditions = None  # type: ignore[assignment]

    def generate(self, energy_gev, direction, pdg, rng):  # pragma: no cover - never sampled
        raise NotImplementedError


def check_model(
    model: ShowerModel,
    tmp_path: str | os.PathLike | None = None,
    *,
    loader: Callable[[Path], ShowerModel] | None = None,
    seed: int = 7,
) -> None:
    """Run the calozoo model contract on ``model``; raise ``AssertionError`` on the first breach.

    Args:
        model: an instance of the plugin's ShowerModel.
        tmp_path: a folder for the save/load round trip (a temporary one if omitted).
        loader: how to load a saved folder (default ``type(model).load``).
        seed: the seed used for the reproducibility checks.
    """
    label = f"{type(model).__name__} ({model.name})"
    _expect(isinstance(model, ShowerModel), f"{label} is not a calozoo.ShowerModel")
    cond = model.conditions
    _expect(
        0 <= cond.energy_min_gev < cond.energy_max_gev,
        f"{label}: conditions need 0 <= energy_min_gev < energy_max_gev, got {cond}",
    )
    energy, direction = _test_conditions(model)
    pdg = cond.pdg[0]

    # 1. shapes, units, padding, echo of the conditions
    first = model.sample(energy, direction, seed=seed, batch_size=2)
    check_showers(first, energy, direction, pdg, model.n_layers, label)

    # 2. a seed fixes the showers; another seed changes them
    again = model.sample(energy, direction, seed=seed, batch_size=2)
    _expect(first == again, f"{label}: the same seed must give the same showers")
    other = model.sample(energy, direction, seed=seed + 1, batch_size=2)
    _expect(not (first == other), f"{label}: a different seed must give different showers")

    # 3. bad conditions are refused with an error that says what was wrong
    for what, kwargs, word in bad_conditions(model):
        try:
            model.sample(seed=seed, **kwargs)
        except InvalidConditionError as err:
            _expect(
                word.lower() in str(err).lower(),
                f"{label}: the error for {what} should mention {word!r}; it said: {err}",
            )
        except Exception as err:  # any other type is a contract breach
            raise AssertionError(
                f"{label}: {what} must raise InvalidConditionError, got {type(err).__name__}: {err}"
            ) from err
        else:
            raise AssertionError(f"{label}: {what} ({kwargs}) was accepted; it must be refused")

    # 4. save / load round trip gives the same showers; the folder refuses another class
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(tmp_path if tmp_path is not None else scratch) / f"saved-{model.name}"
        model.save(folder)
        _expect((folder / "config.json").is_file(), f"{label}: save() must write config.json")
        restored = (loader or type(model).load)(folder)
        _expect(type(restored) is type(model), f"{label}: load() returned a {type(restored).__name__}")
        _expect(
            restored.sample(energy, direction, seed=seed, batch_size=2) == first,
            f"{label}: the reloaded model must give the same showers for the same seed",
        )
        try:
            _SomeOtherModel.load(folder)
        except ModelFolderError:
            pass
        else:
            raise AssertionError(f"{label}: a saved folder must refuse to load as another model class")


# ---------------------------------------------------------------------------- geometries


def _geometry_test_showers(n_layers: int, seed: int, extra_layers: int = 0) -> Showers:
    """Four small showers: a core and a halo around the axis, normal and oblique incidence.

    With ``extra_layers`` the points run ``extra_layers`` layers past the last one (like a model
    with more layers than the geometry), and one point sits in front of layer 0.
    """
    rng = np.random.default_rng(seed)
    directions = [
        [0.0, 0.0, 1.0],
        direction_from_angles(70.0, 90.0),  # leaning along x
        direction_from_angles(90.0, 75.0),  # leaning along y
        direction_from_angles(80.0, 80.0),
    ]
    lists = []
    for i in range(len(directions)):
        n = 150 + 40 * i
        radius = np.where(rng.random(n) < 0.8, 4.0, 25.0)
        xy = rng.normal(0.0, 1.0, (n, 2)) * radius[:, None]
        z = rng.uniform(0.0, n_layers + extra_layers, n)
        if extra_layers:
            z[0] = -0.5
        e = rng.exponential(0.5, n) + 1e-3
        lists.append(np.column_stack([xy, z, e]))
    return Showers.from_point_lists(lists, [10.0, 20.0, 30.0, 40.0], direction=directions)


def check_cell_hits(
    hits: CellHits, showers: Showers, geometry: Geometry, label: str = "geometry", rtol: float = 1e-5
) -> None:
    """Check what ``geometry.project(showers)`` returned against the projection contract."""
    _expect(isinstance(hits, CellHits), f"{label}: project() must return CellHits, got {type(hits).__name__}")
    n = len(showers)
    cells = hits.showers
    _expect(isinstance(cells, Showers) and len(cells) == n, f"{label}: project() must return {n} showers")
    _expect(cells.z_units == "layer", f"{label}: cell hits must have z in layer units, got {cells.z_units}")
    _expect(
        hits.cell_id.shape == cells.points.shape[:2] and hits.cell_id.dtype == np.int64,
        f"{label}: cell_id must be int64 of shape {cells.points.shape[:2]}, got "
        f"{hits.cell_id.dtype} {hits.cell_id.shape}",
    )
    mask = cells.padding_mask
    _expect(bool(np.all(hits.cell_id[~mask] == -1)), f"{label}: cell_id must be -1 in the padding")
    _expect(bool(np.all(hits.cell_id[mask] >= 0)), f"{label}: real cells need cell ids >= 0")
    for i in range(n):
        ids = hits.cell_id[i, : cells.num_points[i]]
        _expect(
            len(np.unique(ids)) == len(ids), f"{label}: shower {i} has a cell id twice (one point per cell)"
        )
    _expect(bool(np.all(cells.points[~mask] == 0)), f"{label}: padding of the cell hits must be zero")
    energy = cells.points[..., 3][mask]
    _expect(
        bool(np.all(energy >= geometry.threshold_mev * (1 - 1e-6))),
        f"{label}: cell hits below the threshold of {geometry.threshold_mev} MeV were kept",
    )
    z = cells.points[..., 2][mask]
    _expect(
        bool(np.all((z >= 0) & (z < geometry.n_layers))) and np.allclose(z - np.floor(z), 0.5),
        f"{label}: cell hits need z = layer + 0.5 with layer in [0, {geometry.n_layers})",
    )
    np.testing.assert_array_equal(cells.incident_energy_gev, showers.incident_energy_gev)

    losses = hits.losses
    _expect(
        isinstance(losses, EnergyLosses),
        f"{label}: project() must fill CellHits.losses with calozoo.interfaces.EnergyLosses, got "
        f"{type(losses).__name__}",
    )
    total_in = showers.visible_energy_mev
    for name, value in losses.causes().items():
        _expect(value.shape == (n,), f"{label}: losses.{name} must be ({n},), got {value.shape}")
        _expect(bool(np.all(np.isfinite(value))), f"{label}: losses.{name} contains NaN or inf")
        _expect(
            bool(np.all(value >= -1e-9 * np.maximum(total_in, 1.0))),
            f"{label}: losses.{name} must be >= 0, got {value.tolist()}",
        )
    accounted = cells.visible_energy_mev + losses.total_mev
    _expect(
        np.allclose(accounted, total_in, rtol=rtol, atol=1e-6),
        f"{label}: cell hits plus losses must give the input's energy: {accounted.tolist()} MeV vs "
        f"{total_in.tolist()} MeV (a loss not reported?)",
    )


def check_geometry(
    geometry: Geometry,
    tmp_path: str | os.PathLike | None = None,
    *,
    incident_point_mm=None,
    loader: Callable[[Path], Geometry] | None = None,
    seed: int = 7,
) -> None:
    """Run the calozoo geometry contract on ``geometry``; raise ``AssertionError`` on the first breach.

    Args:
        geometry: an instance of the plugin's Geometry.
        tmp_path: a folder for the save/load round trip (a temporary one if omitted).
        incident_point_mm: where the test showers enter (default: the geometry's own default).
        loader: how to load a saved folder (default ``type(geometry).load``).
        seed: seed of the synthetic test showers.
    """
    label = f"{type(geometry).__name__} ({geometry.name})"
    _expect(isinstance(geometry, Geometry), f"{label} is not a calozoo.Geometry")
    n_layers = geometry.n_layers
    _expect(isinstance(n_layers, (int, np.integer)) and n_layers > 0, f"{label}: n_layers must be > 0")
    depth = np.asarray(geometry.layer_depth_mm)
    _expect(depth.shape == (n_layers,), f"{label}: layer_depth_mm must be ({n_layers},), got {depth.shape}")
    _expect(bool(np.all(np.diff(depth) > 0)), f"{label}: layer_depth_mm must increase layer by layer")
    _expect(geometry.threshold_mev >= 0, f"{label}: threshold_mev must be >= 0")

    # 1. showers inside the layers: cells, ids, energy accounted for, and no warning
    showers = _geometry_test_showers(n_layers, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = geometry.project(showers, incident_point_mm)
    check_cell_hits(hits, showers, geometry, label)
    _expect(
        not [w for w in caught if issubclass(w.category, MissingLayersWarning)],
        f"{label}: showers inside the layers must project without a MissingLayersWarning",
    )
    _expect(
        bool(np.all(hits.losses.outside_layers_mev == 0)),
        f"{label}: showers inside [0, {n_layers}) lose nothing outside the layers, got "
        f"{hits.losses.outside_layers_mev.tolist()} MeV",
    )
    _expect(bool(np.any(hits.showers.num_points > 0)), f"{label}: the test showers gave no cell hits at all")

    # 2. points in layers the geometry does not have: lost as outside_layers_mev, with a warning
    longer = _geometry_test_showers(n_layers, seed + 1, extra_layers=max(2, n_layers // 5))
    z, e = longer.points[..., 2], longer.points[..., 3]
    missing = np.where(longer.padding_mask & ((z < 0) | (z >= n_layers)), e, 0.0).sum(
        axis=1, dtype=np.float64
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = geometry.project(longer, incident_point_mm)
    check_cell_hits(hits, longer, geometry, label)
    np.testing.assert_allclose(
        hits.losses.outside_layers_mev,
        missing,
        rtol=1e-6,
        err_msg=f"{label}: losses.outside_layers_mev must be the energy of the points outside "
        f"[0, {n_layers})",
    )
    found = [w for w in caught if issubclass(w.category, MissingLayersWarning)]
    _expect(
        len(found) == 1,
        f"{label}: projecting points beyond layer {n_layers - 1} must warn once with a "
        f"calozoo.interfaces.MissingLayersWarning (call warn_missing_layers), got {len(found)}",
    )
    message = str(found[0].message)
    _expect(
        "MeV" in message and geometry.name in message and "largest" in message,
        f"{label}: the warning must name the geometry, the energy lost (MeV) and the largest loss; "
        f"it said: {message}",
    )

    # 3. points in mm are refused; an empty batch projects to nothing
    try:
        geometry.project(Showers.from_point_lists([np.ones((2, 4))], [1.0], z_units="mm"), incident_point_mm)
    except ValueError as err:
        _expect(
            "layer" in str(err), f"{label}: refusing points in mm should say 'layer units'; it said: {err}"
        )
    else:
        raise AssertionError(f"{label}: project() must refuse points with z in mm (raise ValueError)")
    try:  # a bare array is not showers: a clear TypeError, not an AttributeError deep inside
        geometry.project(np.ones((1, 2, 4)), incident_point_mm)
    except TypeError as err:
        _expect(
            "Showers" in str(err), f"{label}: refusing an array should name calozoo.Showers; it said: {err}"
        )
    else:
        raise AssertionError(f"{label}: project() must refuse a numpy array (raise TypeError)")
    empty = geometry.project(Showers.empty())
    _expect(len(empty) == 0 and len(empty.losses) == 0, f"{label}: an empty batch must project to nothing")

    # 4. save / load round trip projects the same
    first = geometry.project(showers, incident_point_mm)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(tmp_path if tmp_path is not None else scratch) / f"saved-{geometry.name}"
        geometry.save(folder)
        restored = (loader or type(geometry).load)(folder)
        _expect(type(restored) is type(geometry), f"{label}: load() returned a {type(restored).__name__}")
        again = restored.project(showers, incident_point_mm)
        _expect(
            again.showers == first.showers and np.array_equal(again.cell_id, first.cell_id),
            f"{label}: the reloaded geometry must project the same cells",
        )
