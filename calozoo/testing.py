"""The conformance kits every plugin runs in its own tests, in the spirit of scikit-learn's
``check_estimator`` and ``parametrize_with_checks``: one call checks the contract a user relies
on, whatever the model, geometry or calibrator is.

Each kit is a list of named checks: :func:`model_checks`, :func:`geometry_checks` and
:func:`calibrator_checks` return ``(name, check)`` pairs, and ``check(tmp_path)`` runs one of
them (raising ``AssertionError`` that says which rule was broken). :func:`parametrize_with_checks`
makes every check its own pytest test::

    import calozoo
    from calozoo.testing import parametrize_with_checks

    @parametrize_with_checks(lambda: calozoo.load("mymodel"), kind="model")
    def test_conformance(check, tmp_path):
        check(tmp_path)

which collects ``test_conformance[mymodel-showers]``, ``test_conformance[mymodel-seeding]``, ...
Objects are built when the first of their checks runs, once per test session, never at
collection. A registered name (``parametrize_with_checks("mymodel", kind="model")`` or
:func:`registered`) also checks that the registration's metadata agrees with the object.
:func:`check_model`, :func:`check_geometry` and :func:`check_calibrator` run a whole kit in one
call::

    check_model(calozoo.load("mymodel"), tmp_path)

The model kit checks output shapes and units, non-negative energies, zero padding, reproducibility
with a seed, clear rejection of bad conditions, the save/load round trip, and that the
registration's energy range, particles and maximum angle are the model's ``conditions``. The
geometry kit checks the projection contract: cell hits one per cell at their centres, energy
accounted for (cell hits plus ``losses`` equal the input, by cause, never negative), the warning
for layers the geometry does not have, the refusal of points in mm and of bare arrays, empty
batches, and the save/load round trip. The calibrator kit checks that an unfitted calibrator
refuses to apply, that ``fit`` learns (into attributes ending in ``_``, leaving the settings
alone) and returns a calibrator, that ``apply`` returns new showers of the same conditions and
leaves its input alone, that a saved and reloaded calibrator calibrates the same, and that an
empty reference and (with a geometry) showers in mm are refused with a ``ValueError``.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .conditions import direction_from_angles
from .errors import InvalidConditionError, ModelFolderError
from .interfaces import Calibrator, CellHits, EnergyLosses, Geometry, MissingLayersWarning, ShowerModel
from .showers import Z_UNITS, Showers

__all__ = [
    "Check",
    "check_model",
    "check_geometry",
    "check_calibrator",
    "model_checks",
    "geometry_checks",
    "calibrator_checks",
    "parametrize_with_checks",
    "registered",
    "MODEL_CHECKS",
    "GEOMETRY_CHECKS",
    "CALIBRATOR_CHECKS",
    "check_showers",
    "bad_conditions",
    "check_cell_hits",
]

#: The names of the checks of each kit, in the order they run.
MODEL_CHECKS = ("conditions", "showers", "seeding", "bad_conditions", "save_load", "registration_metadata")
GEOMETRY_CHECKS = (
    "attributes",
    "projection",
    "missing_layers",
    "bad_input",
    "empty_batch",
    "save_load",
    "registration_metadata",
)
CALIBRATOR_CHECKS = ("unfitted_apply", "fit", "apply", "save_load", "empty_reference", "reference_in_mm")


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

    def generate(self, energy_gev, direction, pdg, seeds):  # pragma: no cover - never sampled
        raise NotImplementedError


# ---------------------------------------------------------------------------- the machinery


@dataclass(frozen=True)
class Check:
    """One named check of a kit: ``check(tmp_path)`` runs it (``tmp_path`` may be omitted).

    Attributes:
        kind: ``"model"``, ``"geometry"`` or ``"calibrator"``.
        label: what is checked (a registered name, or the object's ``name``).
        name: which rule (one of :data:`MODEL_CHECKS`, :data:`GEOMETRY_CHECKS`,
            :data:`CALIBRATOR_CHECKS`).
    """

    kind: str
    label: str
    name: str
    function: Callable[[Path | None], None]

    @property
    def id(self) -> str:
        """``label-name``: the pytest id :func:`parametrize_with_checks` gives it."""
        return f"{self.label}-{self.name}"

    def __call__(self, tmp_path: str | os.PathLike | None = None) -> None:
        if tmp_path is not None:
            self.function(Path(tmp_path))
            return
        with tempfile.TemporaryDirectory() as scratch:
            self.function(Path(scratch))

    def __repr__(self) -> str:
        return f"<calozoo check {self.id}>"


class _Lazy:
    """A value given as itself or as a zero-argument factory, built on first use and kept."""

    def __init__(self, value: Any, expected: type | tuple[type, ...]):
        self._factory = value if callable(value) and not isinstance(value, expected) else None
        self._value = None if self._factory is not None else value
        self._built = self._factory is None

    def get(self) -> Any:
        if not self._built:
            self._value = self._factory()
            self._built = True
        return self._value


_KIND_TYPES: dict[str, type] = {"model": ShowerModel, "geometry": Geometry, "calibrator": Calibrator}

#: Objects :func:`registered` built, kept for the whole session: (kind, name, options) -> object.
_SESSION: dict[tuple[str, str, str], Any] = {}


class registered:  # noqa: N801 - used like a function: registered("model", "toyflow")
    """A zero-argument factory of the registered ``kind`` ``name``, built once per session.

    ``registered("model", "toyflow")()`` is ``calozoo.load("toyflow")``, loaded on the first
    call and kept (every kit and test file asking for the same thing shares it);
    ``"geometry"`` builds with :func:`calozoo.geometry` and ``"calibrator"`` with
    :func:`calozoo.calibrator` (a calibrator kit fits copies, never the shared object). The kits
    take it wherever they take an object, and know from it which registration to check; with
    ``options`` the object is not the default load the registration describes, so its metadata
    is not checked.

    Args:
        kind: ``"model"``, ``"geometry"`` or ``"calibrator"``.
        name: the registered name (or ``plugin:name``).
        options: passed to the factory (``calozoo.load(name, **options)``).
        label: how the tests are named (default the name, with the options).
    """

    def __init__(
        self, kind: str, name: str, options: dict[str, Any] | None = None, *, label: str | None = None
    ):
        if kind not in _KIND_TYPES:
            raise ValueError(f"kind must be one of {sorted(_KIND_TYPES)}, got {kind!r}")
        self.kind = kind
        self.name = str(name)
        self.options = dict(options or {})
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.options.items())).replace(" ", "")
        self.label = label or (f"{self.name}[{extra}]" if extra else self.name)

    @property
    def registration(self) -> str | None:
        """The name whose registration describes the object (``None`` when options change it)."""
        return None if self.options else self.name

    def __call__(self) -> Any:
        key = (self.kind, self.name, repr(sorted(self.options.items())))
        if key not in _SESSION:
            import calozoo

            build = {"model": calozoo.load, "geometry": calozoo.geometry, "calibrator": calozoo.calibrator}
            _SESSION[key] = build[self.kind](self.name, **self.options)
        return _SESSION[key]

    def __repr__(self) -> str:
        return f"registered({self.kind!r}, {self.name!r}{f', {self.options!r}' if self.options else ''})"


def _resolve_registration(kind: str, registration) -> Any:
    """A :class:`~calozoo.registry.Registration` from one, or from a registered name."""
    if registration is None or not isinstance(registration, str):
        return registration
    from .registry import get_registry

    return get_registry().get(kind, registration)


def _label(kind: str, subject: Any, registration: Any, label: str | None) -> str:
    if label:
        return label
    if isinstance(subject, registered):
        return subject.label
    if registration is not None:
        return str(getattr(registration, "name", registration))
    if isinstance(subject, _KIND_TYPES[kind]):
        return str(getattr(subject, "name", type(subject).__name__))
    name = getattr(subject, "__name__", "")
    return name if name and name != "<lambda>" else kind


def _registration_of(subject: Any, registration: Any) -> Any:
    if registration is None and isinstance(subject, registered):
        return subject.registration
    return registration


def _select(
    kind: str, label: str, functions: dict[str, Callable[[Path], None]], every: Sequence[str], checks
) -> list[tuple[str, Check]]:
    names = list(functions) if checks is None else [checks] if isinstance(checks, str) else list(checks)
    unknown = [n for n in names if n not in every]
    if unknown:
        raise ValueError(f"no {kind} check named {unknown}; the {kind} checks are {list(every)}")
    inapplicable = [n for n in names if n not in functions]
    if inapplicable:
        needs = {"registration_metadata": "registration=", "reference_in_mm": "a geometry"}
        raise ValueError(
            f"{label}: the {kind} check(s) {inapplicable} need "
            + " and ".join(sorted({needs.get(n, "more arguments") for n in inapplicable}))
        )
    return [(n, Check(kind, label, n, functions[n])) for n in names]


def _expect_value_error(label: str, what: str, call: Callable[[], Any], word: str) -> None:
    """``call()`` must raise ValueError mentioning ``word`` (a clear error, not a crash inside)."""
    try:
        call()
    except ValueError as err:
        _expect(
            word.lower() in str(err).lower(),
            f"{label}: the error for {what} should mention {word!r}; it said: {err}",
        )
    except Exception as err:
        raise AssertionError(
            f"{label}: {what} must raise ValueError, got {type(err).__name__}: {err}"
        ) from err
    else:
        raise AssertionError(f"{label}: {what} was accepted; it must be refused with a ValueError")


def _same(a: Any, b: Any) -> bool:
    """Equality that also compares numpy arrays (and containers of them)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:  # objects whose == is not a truth value
        return a is b


def _close(a: Any, b: Any) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


# ---------------------------------------------------------------------------- models


class _ModelKit:
    """What the model checks share: the model (built once) and its first sample."""

    def __init__(self, model, registration, loader, seed: int, label: str):
        self._model = _Lazy(model, ShowerModel)
        self._registration = registration
        self.loader, self.seed, self.label = loader, seed, label
        self._first: Showers | None = None

    @property
    def model(self) -> ShowerModel:
        model = self._model.get()
        _expect(
            isinstance(model, ShowerModel),
            f"{self.label}: {type(model).__name__} is not a calozoo.ShowerModel",
        )
        return model

    @property
    def registration(self):
        return _resolve_registration("model", self._registration)

    def first(self) -> Showers:
        """The test conditions sampled with the kit's seed, in batches of 2 (sampled once)."""
        if self._first is None:
            energy, direction = _test_conditions(self.model)
            self._first = self.model.sample(energy, direction, seed=self.seed, batch_size=2)
        return self._first

    # the checks ---------------------------------------------------------------
    def conditions(self, tmp_path: Path) -> None:
        cond = self.model.conditions
        _expect(
            0 <= cond.energy_min_gev < cond.energy_max_gev,
            f"{self.label}: conditions need 0 <= energy_min_gev < energy_max_gev, got {cond}",
        )
        _expect(len(cond.pdg) > 0, f"{self.label}: conditions must accept at least one particle (pdg)")

    def showers(self, tmp_path: Path) -> None:
        """Shapes, units, padding, echo of the conditions."""
        model = self.model
        energy, direction = _test_conditions(model)
        check_showers(self.first(), energy, direction, model.conditions.pdg[0], model.n_layers, self.label)

    def seeding(self, tmp_path: Path) -> None:
        """A seed fixes the showers; another seed changes them."""
        energy, direction = _test_conditions(self.model)
        first = self.first()
        again = self.model.sample(energy, direction, seed=self.seed, batch_size=2)
        _expect(first == again, f"{self.label}: the same seed must give the same showers")
        other = self.model.sample(energy, direction, seed=self.seed + 1, batch_size=2)
        _expect(not (first == other), f"{self.label}: a different seed must give different showers")

    def bad_conditions(self, tmp_path: Path) -> None:
        """Bad conditions are refused with an error that says what was wrong."""
        for what, kwargs, word in bad_conditions(self.model):
            try:
                self.model.sample(seed=self.seed, **kwargs)
            except InvalidConditionError as err:
                _expect(
                    word.lower() in str(err).lower(),
                    f"{self.label}: the error for {what} should mention {word!r}; it said: {err}",
                )
            except Exception as err:  # any other type is a contract breach
                raise AssertionError(
                    f"{self.label}: {what} must raise InvalidConditionError, got {type(err).__name__}: {err}"
                ) from err
            else:
                raise AssertionError(f"{self.label}: {what} ({kwargs}) was accepted; it must be refused")

    def save_load(self, tmp_path: Path) -> None:
        """The save/load round trip gives the same showers; the folder refuses another class."""
        model = self.model
        energy, direction = _test_conditions(model)
        folder = tmp_path / f"saved-{model.name}"
        model.save(folder)
        _expect((folder / "config.json").is_file(), f"{self.label}: save() must write config.json")
        restored = (self.loader or type(model).load)(folder)
        _expect(type(restored) is type(model), f"{self.label}: load() returned a {type(restored).__name__}")
        _expect(
            restored.sample(energy, direction, seed=self.seed, batch_size=2) == self.first(),
            f"{self.label}: the reloaded model must give the same showers for the same seed",
        )
        try:
            _SomeOtherModel.load(folder)
        except ModelFolderError:
            pass
        else:
            raise AssertionError(f"{self.label}: a saved folder must refuse to load as another model class")

    def registration_metadata(self, tmp_path: Path) -> None:
        """The registration's energy_gev, pdg and max_angle_deg are the model's conditions."""
        registration = self.registration
        meta, cond = registration.metadata, self.model.conditions
        where = f"{self.label}: the registration of {registration.name!r} (plugin {registration.plugin!r})"
        problems = []
        if "energy_gev" in meta:
            low, high = meta["energy_gev"]
            if not (_close(low, cond.energy_min_gev) and _close(high, cond.energy_max_gev)):
                problems.append(
                    f"energy_gev={tuple(meta['energy_gev'])} but the model accepts "
                    f"{cond.energy_min_gev:g}-{cond.energy_max_gev:g} GeV"
                )
        if "pdg" in meta and {int(p) for p in meta["pdg"]} != {int(p) for p in cond.pdg}:
            problems.append(f"pdg={tuple(meta['pdg'])} but the model accepts pdg {tuple(cond.pdg)}")
        if "max_angle_deg" in meta and not _close(meta["max_angle_deg"], cond.max_angle_deg):
            problems.append(
                f"max_angle_deg={meta['max_angle_deg']} but the model accepts {cond.max_angle_deg:g} deg"
            )
        _expect(
            not problems,
            f"{where} says {'; '.join(problems)}: `calozoo list-models` and `calozoo info` would show "
            "conditions the model does not have (fix the metadata in the plugin's register call, or "
            "the model's conditions)",
        )


def model_checks(
    model: ShowerModel | Callable[[], ShowerModel],
    *,
    registration=None,
    loader: Callable[[Path], ShowerModel] | None = None,
    seed: int = 7,
    checks: str | Iterable[str] | None = None,
    label: str | None = None,
) -> list[tuple[str, Check]]:
    """The model kit as ``(name, check)`` pairs (names in :data:`MODEL_CHECKS`).

    Args:
        model: a ShowerModel, or a zero-argument factory of one (built when the first check runs,
            once; :func:`registered` also names the registration).
        registration: the :class:`~calozoo.registry.Registration` the model was loaded from, or
            its registered name: adds the check that its metadata (``energy_gev``, ``pdg``,
            ``max_angle_deg``, those it gives) agrees with ``model.conditions``. The metadata
            describes the default load: pass it only for a model loaded without options.
        loader: how to load a saved folder (default ``type(model).load``).
        seed: the seed of the reproducibility checks.
        checks: run only these checks (names from :data:`MODEL_CHECKS`).
        label: how the checks are named (default the registered or the model's name).
    """
    registration = _registration_of(model, registration)
    label = _label("model", model, registration, label)
    kit = _ModelKit(model, registration, loader, seed, label)
    functions = {name: getattr(kit, name) for name in MODEL_CHECKS}
    if registration is None:
        del functions["registration_metadata"]
    return _select("model", label, functions, MODEL_CHECKS, checks)


def check_model(
    model: ShowerModel,
    tmp_path: str | os.PathLike | None = None,
    *,
    loader: Callable[[Path], ShowerModel] | None = None,
    seed: int = 7,
    registration=None,
) -> None:
    """Run the calozoo model contract on ``model``; raise ``AssertionError`` on the first breach.

    Args:
        model: an instance of the plugin's ShowerModel.
        tmp_path: a folder for the save/load round trip (a temporary one if omitted).
        loader: how to load a saved folder (default ``type(model).load``).
        seed: the seed used for the reproducibility checks.
        registration: the registration (or registered name) the model was loaded from, to check
            its metadata against ``model.conditions`` (see :func:`model_checks`).
    """
    for _, check in model_checks(model, registration=registration, loader=loader, seed=seed):
        check(tmp_path)


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


class _GeometryKit:
    """What the geometry checks share: the geometry (built once) and its test showers."""

    def __init__(self, geometry, registration, incident_point_mm, loader, seed: int, label: str):
        self._geometry = _Lazy(geometry, Geometry)
        self._registration = registration
        self.incident_point_mm, self.loader, self.seed, self.label = incident_point_mm, loader, seed, label

    @property
    def geometry(self) -> Geometry:
        geometry = self._geometry.get()
        _expect(
            isinstance(geometry, Geometry),
            f"{self.label}: {type(geometry).__name__} is not a calozoo.Geometry",
        )
        return geometry

    def _project(self, showers: Showers):
        return self.geometry.project(showers, self.incident_point_mm)

    # the checks ---------------------------------------------------------------
    def attributes(self, tmp_path: Path) -> None:
        geometry = self.geometry
        n_layers = geometry.n_layers
        _expect(
            isinstance(n_layers, (int, np.integer)) and n_layers > 0, f"{self.label}: n_layers must be > 0"
        )
        depth = np.asarray(geometry.layer_depth_mm)
        _expect(
            depth.shape == (n_layers,),
            f"{self.label}: layer_depth_mm must be ({n_layers},), got {depth.shape}",
        )
        _expect(
            bool(np.all(np.diff(depth) > 0)), f"{self.label}: layer_depth_mm must increase layer by layer"
        )
        _expect(geometry.threshold_mev >= 0, f"{self.label}: threshold_mev must be >= 0")

    def projection(self, tmp_path: Path) -> None:
        """Showers inside the layers: cells, ids, energy accounted for, and no warning."""
        geometry, label = self.geometry, self.label
        n_layers = geometry.n_layers
        showers = _geometry_test_showers(n_layers, self.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hits = self._project(showers)
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
        _expect(
            bool(np.any(hits.showers.num_points > 0)), f"{label}: the test showers gave no cell hits at all"
        )

    def missing_layers(self, tmp_path: Path) -> None:
        """Points in layers the geometry does not have: lost as outside_layers_mev, with a warning."""
        geometry, label = self.geometry, self.label
        n_layers = geometry.n_layers
        longer = _geometry_test_showers(n_layers, self.seed + 1, extra_layers=max(2, n_layers // 5))
        z, e = longer.points[..., 2], longer.points[..., 3]
        missing = np.where(longer.padding_mask & ((z < 0) | (z >= n_layers)), e, 0.0).sum(
            axis=1, dtype=np.float64
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hits = self._project(longer)
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

    def bad_input(self, tmp_path: Path) -> None:
        """Points in mm are refused (ValueError), and so is a bare array (TypeError)."""
        label = self.label
        try:
            self._project(Showers.from_point_lists([np.ones((2, 4))], [1.0], z_units="mm"))
        except ValueError as err:
            _expect(
                "layer" in str(err),
                f"{label}: refusing points in mm should say 'layer units'; it said: {err}",
            )
        else:
            raise AssertionError(f"{label}: project() must refuse points with z in mm (raise ValueError)")
        try:  # a bare array is not showers: a clear TypeError, not an AttributeError deep inside
            self.geometry.project(np.ones((1, 2, 4)), self.incident_point_mm)
        except TypeError as err:
            _expect(
                "Showers" in str(err),
                f"{label}: refusing an array should name calozoo.Showers; it said: {err}",
            )
        else:
            raise AssertionError(f"{label}: project() must refuse a numpy array (raise TypeError)")

    def empty_batch(self, tmp_path: Path) -> None:
        empty = self.geometry.project(Showers.empty())
        _expect(
            len(empty) == 0 and len(empty.losses) == 0,
            f"{self.label}: an empty batch must project to nothing",
        )

    def save_load(self, tmp_path: Path) -> None:
        """The save/load round trip projects the same."""
        geometry, label = self.geometry, self.label
        showers = _geometry_test_showers(geometry.n_layers, self.seed)
        first = self._project(showers)
        folder = tmp_path / f"saved-{geometry.name}"
        geometry.save(folder)
        restored = (self.loader or type(geometry).load)(folder)
        _expect(type(restored) is type(geometry), f"{label}: load() returned a {type(restored).__name__}")
        again = restored.project(showers, self.incident_point_mm)
        _expect(
            again.showers == first.showers and np.array_equal(again.cell_id, first.cell_id),
            f"{label}: the reloaded geometry must project the same cells",
        )

    def registration_metadata(self, tmp_path: Path) -> None:
        """The registration's n_layers, cell_size_mm and threshold_mev are the geometry's."""
        registration = _resolve_registration("geometry", self._registration)
        meta, geometry = registration.metadata, self.geometry
        problems = []
        for key in ("n_layers", "cell_size_mm", "threshold_mev"):
            if key not in meta:
                continue
            value = getattr(geometry, key)
            if value is None or meta[key] is None:
                agrees = value is None and meta[key] is None
            else:
                agrees = _close(meta[key], value)
            if not agrees:
                problems.append(f"{key}={meta[key]} but the geometry has {value}")
        _expect(
            not problems,
            f"{self.label}: the registration of {registration.name!r} (plugin {registration.plugin!r}) says "
            f"{'; '.join(problems)}: `calozoo list-geometries` would describe another geometry",
        )


def geometry_checks(
    geometry: Geometry | Callable[[], Geometry],
    *,
    registration=None,
    incident_point_mm=None,
    loader: Callable[[Path], Geometry] | None = None,
    seed: int = 7,
    checks: str | Iterable[str] | None = None,
    label: str | None = None,
) -> list[tuple[str, Check]]:
    """The geometry kit as ``(name, check)`` pairs (names in :data:`GEOMETRY_CHECKS`).

    Args:
        geometry: a Geometry, or a zero-argument factory of one (built when the first check runs).
        registration: the registration (or registered name) the geometry was built from: adds
            the check that its metadata (``n_layers``, ``cell_size_mm``, ``threshold_mev``, those
            it gives) agrees with the geometry. Only for a geometry built without options.
        incident_point_mm: where the test showers enter (default: the geometry's own default).
        loader: how to load a saved folder (default ``type(geometry).load``).
        seed: seed of the synthetic test showers.
        checks: run only these checks (names from :data:`GEOMETRY_CHECKS`).
        label: how the checks are named.
    """
    registration = _registration_of(geometry, registration)
    label = _label("geometry", geometry, registration, label)
    kit = _GeometryKit(geometry, registration, incident_point_mm, loader, seed, label)
    functions = {name: getattr(kit, name) for name in GEOMETRY_CHECKS}
    if registration is None:
        del functions["registration_metadata"]
    return _select("geometry", label, functions, GEOMETRY_CHECKS, checks)


def check_geometry(
    geometry: Geometry,
    tmp_path: str | os.PathLike | None = None,
    *,
    incident_point_mm=None,
    loader: Callable[[Path], Geometry] | None = None,
    seed: int = 7,
    registration=None,
) -> None:
    """Run the calozoo geometry contract on ``geometry``; raise ``AssertionError`` on the first breach.

    Args:
        geometry: an instance of the plugin's Geometry.
        tmp_path: a folder for the save/load round trip (a temporary one if omitted).
        incident_point_mm: where the test showers enter (default: the geometry's own default).
        loader: how to load a saved folder (default ``type(geometry).load``).
        seed: seed of the synthetic test showers.
        registration: the registration (or registered name) to check the geometry against.
    """
    pairs = geometry_checks(
        geometry, registration=registration, incident_point_mm=incident_point_mm, loader=loader, seed=seed
    )
    for _, check in pairs:
        check(tmp_path)


# ---------------------------------------------------------------------------- calibrators


class _SomeOtherCalibrator(Calibrator):
    """Used to prove that a calibrator folder refuses to load as another class."""

    name = "some-other-calibrator"

    def fit(self, generated, reference, geometry=None):  # pragma: no cover - never fitted
        raise NotImplementedError

    def apply(self, showers):  # pragma: no cover - never applied
        raise NotImplementedError


def _calibration_showers(n: int, seed: int) -> Showers:
    """``n`` synthetic training-point showers of 5-100 GeV at normal incidence (no model needed)."""
    rng = np.random.default_rng(seed)
    energy = np.geomspace(5.0, 100.0, n)
    lists = []
    for e in energy:
        k = int(40 + 8 * e)
        radius = np.where(rng.random(k) < 0.8, 5.0, 20.0)
        xy = rng.normal(0.0, 1.0, (k, 2)) * radius[:, None]
        z = np.clip(rng.gamma(4.0, 2.5, k), 0.0, 29.99)
        deposit = rng.exponential(1.0, k) + 1e-3
        lists.append(np.column_stack([xy, z, deposit * 15.0 * e / deposit.sum()]))
    return Showers.from_point_lists(lists, energy)


def _settings(calibrator: Calibrator) -> dict[str, Any]:
    """The attributes ``__init__`` stored (not learned: not ending in ``_``, not private)."""
    return {
        k: copy.deepcopy(v)
        for k, v in vars(calibrator).items()
        if not k.endswith("_") and not k.startswith("_")
    }


def _learned(calibrator: Calibrator) -> dict[str, Any]:
    return {k: v for k, v in vars(calibrator).items() if k.endswith("_") and not k.startswith("_")}


class _CalibratorKit:
    """What the calibrator checks share: the unfitted calibrator, the showers, one fitted copy."""

    def __init__(self, calibrator, model, geometry, reference, generated, loader, seed, n_showers, label):
        self._calibrator = _Lazy(calibrator, Calibrator)
        self._model = None if model is None else _Lazy(model, ShowerModel)
        self._geometry = None if geometry is None else _Lazy(geometry, Geometry)
        self._reference = None if reference is None else _Lazy(reference, Showers)
        self._generated = None if generated is None else _Lazy(generated, Showers)
        self.loader, self.seed, self.n_showers, self.label = loader, seed, int(n_showers), label
        self._data: tuple[Showers, Showers] | None = None
        self._fitted: Calibrator | None = None

    def fresh(self) -> Calibrator:
        """A copy of the calibrator as given (unfitted): no check changes the shared one."""
        calibrator = self._calibrator.get()
        _expect(
            isinstance(calibrator, Calibrator),
            f"{self.label}: {type(calibrator).__name__} is not a calozoo.Calibrator",
        )
        return copy.deepcopy(calibrator)

    @property
    def geometry(self) -> Geometry | None:
        return None if self._geometry is None else self._geometry.get()

    def data(self) -> tuple[Showers, Showers]:
        """``(generated, reference)`` of the same conditions, shower by shower (made once; each
        call gets copies, so that a calibrator that changes its input spoils no other check)."""
        if self._data is None:
            self._data = self._make_data()
        return copy.deepcopy(self._data)

    def _make_data(self) -> tuple[Showers, Showers]:
        reference = None if self._reference is None else self._reference.get()
        generated = None if self._generated is None else self._generated.get()
        if generated is None and self._model is not None:
            model = self._model.get()
            if reference is not None:
                energy, direction, pdg = reference.incident_energy_gev, reference.direction, reference.pdg
            else:
                cond = model.conditions
                low = max(cond.energy_min_gev, 0.01 * cond.energy_max_gev)
                energy = np.geomspace(low, cond.energy_max_gev, self.n_showers)
                direction, pdg = np.array([0.0, 0.0, 1.0]), None
            generated = model.sample(energy, direction, pdg=pdg, seed=self.seed, batch_size=self.n_showers)
            if reference is None:  # the model's own showers of another seed
                reference = model.sample(energy, direction, seed=self.seed + 1, batch_size=self.n_showers)
        if generated is None:
            generated = _calibration_showers(self.n_showers, self.seed)
        if reference is None:
            reference = _calibration_showers(len(generated), self.seed + 1)
            _expect(
                np.allclose(reference.incident_energy_gev, generated.incident_energy_gev),
                f"{self.label}: give calibrator_checks a reference with the generated showers' conditions",
            )
        return generated, reference

    def fitted(self) -> Calibrator:
        """A copy fitted to the kit's showers (fitted once, for the checks that need one)."""
        if self._fitted is None:
            generated, reference = self.data()
            calibrator = self.fresh()
            calibrator.fit(generated, reference, self.geometry)
            self._fitted = calibrator
        return self._fitted

    # the checks ---------------------------------------------------------------
    def unfitted_apply(self, tmp_path: Path) -> None:
        """An unfitted calibrator refuses to apply, with an error that says to fit it."""
        generated, _ = self.data()
        calibrator = self.fresh()
        try:
            calibrator.apply(generated)
        except (AttributeError, KeyError, IndexError, TypeError) as err:
            raise AssertionError(
                f"{self.label}: apply() before fit() failed with {type(err).__name__}: {err}; refuse it "
                "with a clear error instead (e.g. RuntimeError('... is not fitted: call fit() first'))"
            ) from err
        except Exception as err:
            _expect(
                "fit" in str(err).lower(),
                f"{self.label}: the error for apply() before fit() should say to fit it; it said: "
                f"{type(err).__name__}: {err}",
            )
        else:
            raise AssertionError(
                f"{self.label}: apply() on an unfitted calibrator returned showers; it must refuse until "
                "fit() has learned the correction (give the kit the calibrator unfitted, as "
                "calozoo.calibrator(name) builds it)"
            )

    def fit(self, tmp_path: Path) -> None:
        """fit() returns a fitted Calibrator; it learns into attributes ending in ``_`` only."""
        generated, reference = self.data()
        calibrator = self.fresh()
        settings, before = _settings(calibrator), copy.deepcopy(_learned(calibrator))
        returned = calibrator.fit(generated, reference, self.geometry)
        _expect(
            isinstance(returned, Calibrator),
            f"{self.label}: fit() must return the fitted calibrator (self), got {type(returned).__name__}",
        )
        changed = [k for k, v in settings.items() if not _same(v, getattr(returned, k, v))]
        changed += [k for k in settings if not hasattr(calibrator, k)]
        _expect(
            not changed,
            f"{self.label}: fit() changed the settings {sorted(changed)}; __init__ stores settings and "
            "learned state goes into attributes ending in '_'",
        )
        learned = _learned(returned)
        _expect(
            any(k not in before or not _same(before[k], v) for k, v in learned.items()),
            f"{self.label}: fit() learned nothing into attributes ending in '_' (it has {sorted(learned)})",
        )
        try:
            returned.apply(generated)
        except Exception as err:
            raise AssertionError(
                f"{self.label}: the calibrator fit() returned cannot apply: {type(err).__name__}: {err}"
            ) from err

    def apply(self, tmp_path: Path) -> None:
        """apply() returns new showers of the same conditions, valid showers, input unchanged."""
        generated, _ = self.data()
        points, num_points = generated.points.copy(), generated.num_points.copy()
        calibrated = self.fitted().apply(generated)
        label = self.label
        _expect(isinstance(calibrated, Showers), f"{label}: apply() must return calozoo.Showers")
        _expect(calibrated is not generated, f"{label}: apply() must return a new Showers, not its input")
        _expect(
            np.array_equal(generated.points, points) and np.array_equal(generated.num_points, num_points),
            f"{label}: apply() changed its input; it must leave it unchanged",
        )
        _expect(
            calibrated.z_units == generated.z_units,
            f"{label}: apply() turned z in {generated.z_units} into z in {calibrated.z_units}",
        )
        n_layers = None if self._model is None else self._model.get().n_layers
        check_showers(
            calibrated, generated.incident_energy_gev, generated.direction, generated.pdg, n_layers, label
        )

    def save_load(self, tmp_path: Path) -> None:
        """A saved and reloaded calibrator calibrates the same; the folder refuses another class."""
        generated, _ = self.data()
        calibrator = self.fitted()
        first = calibrator.apply(generated)
        folder = tmp_path / f"saved-calibrator-{calibrator.name}"
        calibrator.save(folder)
        restored = (self.loader or type(calibrator).load)(folder)
        _expect(
            type(restored) is type(calibrator), f"{self.label}: load() returned a {type(restored).__name__}"
        )
        try:
            again = restored.apply(generated)
        except Exception as err:
            raise AssertionError(
                f"{self.label}: the reloaded calibrator cannot apply ({type(err).__name__}: {err}): does "
                "get_config/get_tensors save, and from_saved restore, the fitted state?"
            ) from err
        _expect(
            again == first,
            f"{self.label}: the reloaded calibrator must calibrate the same showers the same way (is all "
            "the fitted state saved and restored?)",
        )
        try:
            _SomeOtherCalibrator.load(folder)
        except ModelFolderError:
            pass
        else:
            raise AssertionError(
                f"{self.label}: a saved folder must refuse to load as another calibrator class"
            )

    def empty_reference(self, tmp_path: Path) -> None:
        generated, _ = self.data()
        _expect_value_error(
            self.label,
            "fit() with an empty reference",
            lambda: self.fresh().fit(generated, Showers.empty(), self.geometry),
            "reference",
        )

    def reference_in_mm(self, tmp_path: Path) -> None:
        """Reference showers of raw hits (z in mm) are not training points: fit refuses them."""
        generated, reference = self.data()
        raw = replace(reference, z_units="mm")
        _expect_value_error(
            self.label,
            "fit() with reference showers in mm (raw hits, not training points)",
            lambda: self.fresh().fit(generated, raw, self.geometry),
            "layer",
        )


def calibrator_checks(
    calibrator: Calibrator | Callable[[], Calibrator],
    model: ShowerModel | Callable[[], ShowerModel] | None = None,
    geometry: Geometry | Callable[[], Geometry] | None = None,
    reference: Showers | Callable[[], Showers] | None = None,
    *,
    generated: Showers | Callable[[], Showers] | None = None,
    loader: Callable[[Path], Calibrator] | None = None,
    seed: int = 7,
    n_showers: int = 12,
    checks: str | Iterable[str] | None = None,
    label: str | None = None,
) -> list[tuple[str, Check]]:
    """The calibrator kit as ``(name, check)`` pairs (names in :data:`CALIBRATOR_CHECKS`).

    Every check works on a copy of ``calibrator``, which must be unfitted (as
    :func:`calozoo.calibrator` builds it). The showers it fits are, in this order of preference:
    ``generated`` and ``reference`` as given; ``model``'s showers at the reference's conditions
    (or at ``n_showers`` energies spanning its range, normal incidence), with its showers of
    another seed as the reference when none is given; synthetic showers of 5-100 GeV.

    Args:
        calibrator: an unfitted Calibrator, or a zero-argument factory of one.
        model: the model whose showers it calibrates (object or factory), optional.
        geometry: passed to ``fit`` (object or factory); ``None`` lets the calibrator choose.
            With a geometry the kit also checks that reference showers in mm are refused.
        reference: reference showers (training points), optional.
        generated: generated showers of the reference's conditions, optional.
        loader: how to load a saved folder (default ``type(calibrator).load``).
        seed: seeds the showers the kit makes.
        n_showers: how many showers the kit makes.
        checks: run only these checks (names from :data:`CALIBRATOR_CHECKS`).
        label: how the checks are named (default the registered or the calibrator's name and
            ``-calibrator``).
    """
    if label is None:  # a model and its calibrator often share a name: keep their tests apart
        label = _label("calibrator", calibrator, None, None)
        label = label if "calibrator" in label else f"{label}-calibrator"
    if reference is not None and model is None and generated is None:
        raise ValueError(
            "calibrator_checks: with a reference, give the model (or the generated showers) of its conditions"
        )
    kit = _CalibratorKit(calibrator, model, geometry, reference, generated, loader, seed, n_showers, label)
    functions = {name: getattr(kit, name) for name in CALIBRATOR_CHECKS}
    if geometry is None:
        del functions["reference_in_mm"]
    return _select("calibrator", label, functions, CALIBRATOR_CHECKS, checks)


def check_calibrator(
    calibrator: Calibrator,
    model: ShowerModel | None = None,
    geometry: Geometry | None = None,
    reference: Showers | None = None,
    tmp_path: str | os.PathLike | None = None,
    **options: Any,
) -> None:
    """Run the calozoo calibrator contract on an unfitted ``calibrator``; raise ``AssertionError``
    on the first breach. ``options`` are those of :func:`calibrator_checks` (``generated``,
    ``loader``, ``seed``, ``n_showers``)."""
    for _, check in calibrator_checks(calibrator, model, geometry, reference, **options):
        check(tmp_path)


# ---------------------------------------------------------------------------- pytest


def _kit(kind: str, subject: Any) -> list[tuple[str, Check]]:
    return {"model": model_checks, "geometry": geometry_checks, "calibrator": calibrator_checks}[kind](
        subject
    )


def _kind_of_name(name: str) -> str:
    from .registry import KINDS, get_registry

    registry = get_registry()
    plain = name.rpartition(":")[2]
    kinds = [k for k in _KIND_TYPES if k in KINDS and plain in {r.name for r in registry.registrations(k)}]
    if len(kinds) != 1:
        raise ValueError(
            f"parametrize_with_checks: {name!r} is registered as {' and '.join(kinds) or 'nothing'}; "
            "say which with kind='model', 'geometry' or 'calibrator'"
        )
    return kinds[0]


def _subject_checks(subject: Any, kind: str | None) -> list[tuple[str, Check]]:
    if isinstance(subject, (list, tuple)):  # a kit already made: model_checks(...) and friends
        pairs = list(subject)
        if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Check) for p in pairs):
            raise TypeError("parametrize_with_checks: a list must hold the (name, check) pairs of a kit")
        return pairs
    if isinstance(subject, str):
        subject = registered(kind or _kind_of_name(subject), subject)
    if isinstance(subject, registered):
        return _kit(subject.kind, subject)
    for name, cls in _KIND_TYPES.items():
        if isinstance(subject, cls):
            return _kit(name, subject)
    if callable(subject):
        if kind is not None:
            return _kit(kind, subject)
        built = subject()  # no kind given: built now, at collection, to see what it is
        return _subject_checks(built, None)
    raise TypeError(
        f"parametrize_with_checks takes models, geometries, calibrators, factories of them, registered "
        f"names or kits, got {type(subject).__name__}"
    )


def parametrize_with_checks(*subjects: Any, kind: str | None = None):
    """A pytest decorator giving every check of every subject its own test, like scikit-learn's.

    ``@parametrize_with_checks(*subjects)`` parametrizes the argument ``check`` with one
    :class:`Check` per rule and subject, with ids ``label-name``; the test calls
    ``check(tmp_path)``. A subject is one of:

    - a registered name: ``"toyflow"`` (``kind=`` when the name is registered as several kinds,
      e.g. a model and its calibrator), built with :func:`registered`, its metadata checked too;
    - a zero-argument factory, e.g. ``lambda: calozoo.load("toyflow")``: with ``kind=`` it is
      called when the first of its checks runs; without, once at collection to see what it is;
    - :func:`registered`, or a kit from :func:`model_checks`, :func:`geometry_checks` or
      :func:`calibrator_checks` (to pass options, a registration, a calibrator's model and
      geometry, or to pick checks);
    - a built model, geometry or calibrator.

    Each object is built once for all its checks (and, through :func:`registered`, once per
    session for every test that asks for it)::

        @parametrize_with_checks("toy-gamma", "toyflow", kind="model")
        def test_conformance(check, tmp_path):
            check(tmp_path)
    """
    import pytest

    if kind is not None and kind not in _KIND_TYPES:
        raise ValueError(f"kind must be one of {sorted(_KIND_TYPES)}, got {kind!r}")
    params = [
        pytest.param(check, id=check.id)
        for subject in subjects
        for _, check in _subject_checks(subject, kind)
    ]
    return pytest.mark.parametrize("check", params)
