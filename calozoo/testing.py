"""The conformance kit every model plugin runs in its own tests: ``check_model(model, tmp_path)``.

In the spirit of scikit-learn's ``check_estimator``: one call checks the contract a user relies
on, whatever the model is::

    from calozoo.testing import check_model

    def test_conformance(tmp_path):
        check_model(calozoo.load("mymodel"), tmp_path)

It checks output shapes and units, non-negative energies, zero padding, reproducibility with a
seed, clear rejection of bad conditions, and the save/load round trip. A failure raises
``AssertionError`` saying which rule was broken.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .conditions import direction_from_angles
from .errors import InvalidConditionError, ModelFolderError
from .interfaces import ShowerModel
from .showers import Z_UNITS, Showers

__all__ = ["check_model", "check_showers", "bad_conditions"]


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
