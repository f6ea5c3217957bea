"""``evaluate``: compare generated showers with reference showers in one geometry.

In reading order: check the inputs and their conditions, reduce every
sample to per-shower features (projecting training points into the geometry), then per energy
slice fill the histograms with fixed bins and measure the divergences, the physics distances
and the internal angle, and finally train the classifier. The result holds every number and
histogram; :func:`~calozoo.evaluation.report.write_report` turns it into a report folder.

Errors: with several samples (generator seeds) of a model, each distance is their mean and its
error the standard deviation over them (ddof = 1). With one sample, the error of a divergence is
the standard deviation over bootstrap resamples of the generated showers, and that of the
physics distances and the AUC the methods' own error estimates. ``error_method`` says which.

The statistical floor of a divergence is what two samples of the same distribution with the
sizes of the reference and the generated sample give: it is estimated from pairs of bootstrap
resamples of the reference, so a model "at the floor" is as close as statistics allow.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..interfaces import CellHits, Geometry
from ..showers import Showers
from .binning import BinningSettings, binning_for, flow_index
from .checks import EvaluationInputError, check_same_conditions, check_twin
from .classifier import classifier_test
from .distances import (
    frechet_physics_distance,
    jensen_shannon_divergence,
    jetnet_physics_distances,
    kernel_physics_distance,
    separation_power,
    standardise,
)
from .features import ANGLE_SCAN_PERCENT, ShowerFeatures, shower_features
from .observables import HIGH_LEVEL_FEATURES, OBSERVABLES
from .slices import EnergySlice, energy_slices, fixed_energies
from .wasserstein import W1_OBSERVABLES, w1_observables, wasserstein_distances

__all__ = ["evaluate", "EvaluationResult", "compare_features", "classify_features"]

Sample = Showers | CellHits


@dataclass
class EvaluationResult:
    """Every number, histogram and bin edge of one evaluation.

    Attributes:
        geometry: the geometry's name, layers, layer depths, cell size and threshold.
        reference: the reference's size and incident energies.
        models: model name -> number of showers in each of its samples (seeds).
        slices: the energy slices, ``"all"`` first.
        binning: slice key -> observable -> ``(B + 1,)`` bin edges.
        histograms: slice key -> observable -> ``{"reference": h, model: [h per sample]}``,
            each ``h`` a dict of ``values`` and ``variances`` ``(B + 2,)`` (underflow first,
            overflow last; counts of showers or cells, or MeV).
        distances: slice key -> observable -> model -> ``jsd`` and ``separation_power``, each
            ``{"mean", "error", "per_sample", "floor", "ratio_to_floor"}``, and ``error_method``.
        physics_distances: slice key -> model -> ``fpd`` and ``kpd`` (same layout, no floor).
        classifier: model -> ``auc`` and ``jsd`` summaries and the split sizes; ``None`` if
            the classifier test was not run.
        angle_scan: slice key -> percentages, mean angular error of every sample, JSD per
            percentage.
        wasserstein: slice key -> model -> the 26 standardised Wasserstein-1 distances of the
            CaloClouds II paper (:mod:`~calozoo.evaluation.wasserstein`), each with its floor.
        settings: the options the evaluation ran with (binning settings included; ``floor``
            names the floor every ratio is divided by).
        inputs: where the samples came from (file names), as the caller recorded them.
        warnings: what the numbers cannot be trusted for (small samples, a skipped classifier).
    """

    geometry: dict
    reference: dict
    models: dict[str, list[int]]
    slices: list[EnergySlice]
    binning: dict[str, dict[str, np.ndarray]]
    histograms: dict[str, dict[str, dict]]
    distances: dict[str, dict[str, dict[str, dict]]]
    physics_distances: dict[str, dict[str, dict]]
    classifier: dict[str, dict] | None
    angle_scan: dict[str, dict]
    settings: dict
    wasserstein: dict[str, dict] = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def slice(self, key: str) -> EnergySlice:
        """The energy slice ``key`` (``"all"``, ``"50GeV"``)."""
        for s in self.slices:
            if s.key == key:
                return s
        raise KeyError(f"no energy slice {key!r}; slices: {[s.key for s in self.slices]}")

    def jsd(self, observable: str, model: str | None = None, slice: str = "all") -> dict:
        """The JSD summary of ``observable`` for ``model`` (default: the only/first model)."""
        model = model or next(iter(self.models))
        return self.distances[slice][observable][model]["jsd"]

    def histogram(self, observable: str, sample: str = "reference", index: int = 0, slice: str = "all"):
        """A filled ``hist.Hist`` (weight storage, flow bins) of one sample's ``observable``."""
        import hist

        from .observables import observable as find

        entry = self.histograms[slice][observable][sample]
        entry = entry if sample == "reference" else entry[index]
        obs = find(observable)
        h = hist.Hist(
            hist.axis.Variable(self.binning[slice][observable], name=obs.name, label=obs.axis_label),
            storage=hist.storage.Weight(),
        )
        view = h.view(flow=True)
        view["value"] = entry["values"]
        view["variance"] = entry["variances"]
        return h

    def table(self, slice: str = "all", metric: str = "jsd") -> list[tuple[str, ...]]:
        """Rows ``(observable, model₁, model₂, ...)`` of ``mean ± error`` for a quick printout."""
        rows = []
        for obs in OBSERVABLES:
            cells = [obs.name]
            for model in self.models:
                d = self.distances[slice][obs.name][model][metric]
                cells.append(f"{d['mean']:.2e} ± {d['error']:.1e} (floor {d['floor']:.1e})")
            rows.append(tuple(cells))
        return rows

    def to_dict(self, histograms: bool = True) -> dict[str, Any]:
        """Everything as JSON-ready builtins (NaN becomes ``None``)."""
        from .. import __version__

        data = {
            "calozoo_version": __version__,
            "jsd_definition": (
                "Jensen-Shannon divergence in nats (natural log; ln 2 = 0.693 is the maximum) between "
                "normalised histograms including underflow and overflow bins, empty bins set to 1e-10"
            ),
            "geometry": self.geometry,
            "reference": self.reference,
            "models": self.models,
            "inputs": self.inputs,
            "settings": self.settings,
            "slices": [s.to_dict() for s in self.slices],
            "binning": self.binning,
            "distances": self.distances,
            "physics_distances": self.physics_distances,
            "classifier": self.classifier,
            "angle_scan": self.angle_scan,
            "wasserstein": self.wasserstein,
            "warnings": self.warnings,
        }
        if histograms:
            data["histograms"] = self.histograms
        return _json_ready(data)


def _json_ready(value):
    """Nested builtins for ``json``: arrays to lists, NaN and inf to ``None``."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# ---------------------------------------------------------------------------------- histograms
class _Histograms:
    """Histograms of one sample's showers for any weights over them (slices, bootstrap)."""

    def __init__(self, features: ShowerFeatures, edges: dict[str, np.ndarray]):
        self.features = features
        self.width = {name: len(e) + 1 for name, e in edges.items()}
        self.index = {
            o.name: flow_index(edges[o.name], features.scalars[o.name])
            for o in OBSERVABLES
            if o.kind == "shower"
        }

    def __call__(self, name: str, weights: np.ndarray | None = None) -> np.ndarray:
        """``(B + 2,)`` contents for ``weights`` ``(N,)`` (default 1), or ``(K, B + 2)`` for ``(K, N)``."""
        n = len(self.features)
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        if name in self.index:
            index = self.index[name]
            rows = np.atleast_2d(weights)
            out = np.stack([np.bincount(index, w, self.width[name]) for w in rows])
            return out if weights.ndim == 2 else out[0]
        return weights @ self.features.profiles[name]

    def variances(self, name: str) -> np.ndarray:
        """``(B + 2,)`` Poisson-like variances of the unweighted histogram (showers independent)."""
        if name in self.index:
            return np.bincount(self.index[name], minlength=self.width[name]).astype(np.float64)
        return np.sum(self.features.profiles[name] ** 2, axis=0)


def _bootstrap(
    rng: np.random.Generator, strata: np.ndarray, counts: Mapping[int, int], n_resamples: int
) -> np.ndarray:
    """``(K, N)`` multiplicities of ``K`` resamples drawn with replacement within strata.

    ``strata`` ``(N,)`` is the stratum of each shower resampled from, ``counts[s]`` how many to
    draw from stratum ``s``. Stratifying by incident energy keeps the energy mix fixed, as it is
    between samples generated for the same conditions; a plain bootstrap would add the
    fluctuation of the mix, which would inflate the floor of the all-energies slice.
    """
    weights = np.zeros((n_resamples, len(strata)))
    for stratum, count in counts.items():
        members = np.flatnonzero(strata == stratum)
        for k in range(n_resamples):
            weights[k] += np.bincount(members[rng.integers(0, len(members), count)], minlength=len(strata))
    return weights


def _strata(features: ShowerFeatures, centres: np.ndarray | None) -> np.ndarray:
    """Stratum of each shower: the nearest fixed energy, or one stratum for continuous energies."""
    if centres is None:
        return np.zeros(len(features), dtype=np.int64)
    return np.abs(features.incident_energy_gev[:, None] - centres[None, :]).argmin(axis=1)


def _counts(strata: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(strata, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


#: Fewer showers than this in a slice make bootstrap errors and floors unreliable: a warning says so.
MIN_SHOWERS_FOR_ERRORS = 50
#: The histogram distances measured per observable, with their statistical floors.
METRICS = {"jsd": jensen_shannon_divergence, "separation_power": separation_power}
#: The ways to estimate the statistical floor (see :func:`compare_features`).
FLOOR_METHODS = ("twin", "matched-halves", "bootstrap")


def _matched_pairs(features: ShowerFeatures, strata: np.ndarray) -> np.ndarray:
    """``(P, 2)`` indices of showers paired with a near neighbour in incident conditions.

    Within each stratum (a fixed energy, or all energies), every shower still unpaired takes its
    nearest unpaired neighbour in ``(ln E, p_x, p_y, p_z)`` (a k-d tree; a direction difference
    of 0.01 rad counts as much as a 1 % energy difference). Showers are visited in index order,
    so the pairing is deterministic; a stratum of odd size leaves one shower out.
    """
    from scipy.spatial import cKDTree

    pairs = []
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        if len(members) < 2:
            continue
        points = np.column_stack(
            [np.log(np.maximum(features.incident_energy_gev[members], 1e-12)), features.direction[members]]
        )
        if np.all(np.ptp(points, axis=0) == 0):  # one condition for all: any pairing is matched
            pairs += list(zip(members[0:-1:2].tolist(), members[1::2].tolist()))
            continue
        tree = cKDTree(points)
        k = min(9, len(members))
        _, neighbours = tree.query(points, k=k)  # nearest first, the shower itself among them
        neighbours = np.asarray(neighbours).reshape(len(members), k).tolist()
        paired = [False] * len(members)
        for i in range(len(members)):
            if paired[i]:
                continue
            free = [j for j in neighbours[i] if j != i and not paired[j]]
            more = k
            while not free and more < len(members):  # all near neighbours taken: ask for more
                more = min(4 * more, len(members))
                _, wider = tree.query(points[i], k=more)
                free = [j for j in np.atleast_1d(wider).tolist() if j != i and not paired[j]]
            if not free:
                break  # the last shower of an odd stratum
            paired[i] = paired[free[0]] = True
            pairs.append((members[i], members[free[0]]))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _matched_halves(rng: np.random.Generator, pairs: np.ndarray, n: int, n_resamples: int) -> np.ndarray:
    """``(K, 2, N)`` weights of ``K`` splits of the reference into two halves matched in conditions.

    Each pair of :func:`_matched_pairs` sends one shower to each half, which one at random. Both
    halves then hold nearly the same mix of energies and directions, as a model sample
    generated for the reference's conditions does.
    """
    weights = np.zeros((n_resamples, 2, n))
    for k in range(n_resamples):
        flip = rng.integers(0, 2, len(pairs))
        weights[k, 0, pairs[np.arange(len(pairs)), flip]] = 1.0
        weights[k, 1, pairs[np.arange(len(pairs)), 1 - flip]] = 1.0
    return weights


def _size_factor(n_reference: int, n_generated: int, n_first: int, n_second: int) -> float:
    """Rescale a divergence between samples of ``n_first`` and ``n_second`` showers to the sizes compared.

    The divergence of two samples of one distribution is, to first order, proportional to
    ``1/N₁ + 1/N₂`` (its bias from finite statistics), so a floor measured between samples of
    other sizes is scaled by the ratio of those sums.
    """
    return (1 / n_reference + 1 / n_generated) / (1 / n_first + 1 / n_second)


def _summary(
    per_sample: Sequence[float], single_error: float, floor: float | None = None, floor_error: float = np.nan
) -> dict:
    values = np.asarray(per_sample, dtype=np.float64)
    mean = float(np.mean(values)) if len(values) else float("nan")
    error = float(np.std(values, ddof=1)) if len(values) > 1 else float(single_error)
    out = {"mean": mean, "error": error, "per_sample": values.tolist()}
    if floor is not None:
        out["floor"] = float(floor)
        out["floor_error"] = float(floor_error)
        out["ratio_to_floor"] = mean / floor if floor > 0 else float("nan")
    return out


# ---------------------------------------------------------------------------------- comparison
def compare_features(
    reference: ShowerFeatures,
    models: Mapping[str, Sequence[ShowerFeatures]],
    geometry: Geometry,
    *,
    slices: Sequence[EnergySlice] | None = None,
    settings: BinningSettings | None = None,
    classifier: bool = True,
    n_bootstrap: int = 20,
    seed: int = 0,
    twin: ShowerFeatures | None = None,
    floor: str | None = None,
    physics_distances: str = "calozoo",
    progress: bool = False,
) -> EvaluationResult:
    """Compare already-measured samples (see :func:`evaluate`, which measures them first).

    ``twin`` is a second reference sample with the same per-shower conditions, in the same
    order; ``floor`` one of :data:`FLOOR_METHODS` (default: ``"twin"`` with a twin, else
    ``"matched-halves"``). ``physics_distances`` is ``"calozoo"`` (features standardised,
    batches without replacement) or ``"jetnet"`` (JetNet's own normalisation and sampling, see
    :func:`~calozoo.evaluation.distances.jetnet_physics_distances`).
    """
    from tqdm.auto import tqdm

    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be at least 2 (a spread needs two resamples), got {n_bootstrap}")
    floor = floor or ("twin" if twin is not None else "matched-halves")
    if physics_distances not in ("calozoo", "jetnet"):
        raise ValueError(f"physics_distances must be 'calozoo' or 'jetnet', got {physics_distances!r}")
    if floor not in FLOOR_METHODS:
        raise ValueError(f"floor must be one of {FLOOR_METHODS}, got {floor!r}")
    if floor == "twin" and twin is None:
        raise ValueError("floor='twin' needs a twin sample (same per-shower conditions as the reference)")
    if twin is not None and len(twin) != len(reference):
        raise EvaluationInputError(
            f"the twin has {len(twin)} showers, the reference {len(reference)}: a twin has the "
            "reference's conditions shower by shower (make one with `calozoo simulate OUT --like REF`)"
        )
    settings = settings or BinningSettings()
    slices = list(slices or energy_slices(reference.incident_energy_gev))
    rng = np.random.default_rng(seed)
    result = EvaluationResult(
        geometry=_describe_geometry(geometry),
        reference=_describe_sample(reference),
        models={name: [len(f) for f in samples] for name, samples in models.items()},
        slices=slices,
        binning={},
        histograms={},
        distances={},
        physics_distances={},
        classifier=None,
        angle_scan={},
        settings={
            "binning": settings.to_dict(),
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "floor": floor,
            "floor_definition": FLOOR_DEFINITIONS[floor],
            "physics_distances": physics_distances,
        },
    )
    for energy_slice in tqdm(slices, desc="comparing", unit="slice", disable=not progress):
        _compare_slice(
            result, energy_slice, reference, models, geometry, settings, n_bootstrap, rng, twin, floor
        )
    if classifier:
        result.classifier = _classifier_tests(reference, models, twin, seed, result.warnings, progress)
    for message in result.warnings:
        warnings.warn(message, UserWarning, stacklevel=2)
    return result


#: The low-level classifier's box about the axis: (2 k + 1)² cells per layer, k this.
LOW_LEVEL_HALF_WIDTH = 5
LOW_LEVEL_BOX = (2 * LOW_LEVEL_HALF_WIDTH + 1,) * 2

#: What each floor is, for the report.
FLOOR_DEFINITIONS = {
    "twin": "the divergence between the reference and a twin sample simulated with the same per-shower "
    "conditions (scaled to the sample sizes compared); error from paired resamples",
    "matched-halves": "the divergence between two halves of the reference matched in incident energy and "
    "direction (nearest-neighbour pairs, one shower of each pair to each half), scaled to the sample sizes "
    "compared; mean and spread over random splits",
    "bootstrap": "the divergence between two bootstrap resamples of the reference of the sizes compared, "
    "stratified by energy (overstates the noise of direction-dependent observables at random angles)",
}


def classify_features(
    reference: ShowerFeatures, generated: ShowerFeatures, *, seed: int = 0, low_level: bool = False
) -> dict:
    """:func:`~calozoo.evaluation.classifier.classifier_test` on two measured samples.

    High-level inputs and gradient boosting, or (``low_level``) the cell grid and the
    CaloChallenge's network; conditions canonical, split stratified by incident energy.
    """
    return classifier_test(
        reference.low_level_inputs() if low_level else reference.classifier_inputs(),
        generated.low_level_inputs() if low_level else generated.classifier_inputs(),
        reference_energy_gev=reference.incident_energy_gev,
        generated_energy_gev=generated.incident_energy_gev,
        n_conditions=ShowerFeatures.N_CONDITIONS,
        seed=seed,
        kind="dnn" if low_level else "boosting",
    )


def _classifier_tests(reference, models, twin, seed, warnings, progress) -> dict:
    """The classifier test per model (and reference against twin, the AUC's floor, with a twin)."""
    from tqdm.auto import tqdm

    out = {}
    tests = [(name, samples, False) for name, samples in models.items()]
    if twin is not None:
        tests.append(("twin (floor)", [twin], False))
    if reference.cell_grid is not None:
        tests += [(f"{name} (low-level)", samples, True) for name, samples, _ in list(tests)]
    for name, samples, low_level in tqdm(tests, desc="classifier", unit="test", disable=not progress):
        try:
            runs = [classify_features(reference, f, seed=seed, low_level=low_level) for f in samples]
        except ValueError as err:
            message = f"classifier test skipped for {name!r}: {err} (--no-classifier turns it off)"
            warnings.append(message)
            out[name] = {"skipped": message}
            continue
        out[name] = {
            "auc": _summary([r["auc"] for r in runs], runs[0]["auc_error"]),
            "jsd": _summary([r["jsd"] for r in runs], float("nan")),
            "jsd_bits": _summary([r["jsd_bits"] for r in runs], float("nan")),
            "accuracy": _summary([r["accuracy"] for r in runs], float("nan")),
            "error_method": "std over samples" if len(runs) > 1 else "Hanley-McNeil standard error",
            "runs": runs,
        }
    return out


class _Floor:
    """The statistical floor of every divergence in one slice, by one of :data:`FLOOR_METHODS`.

    ``values(name, metric, n_generated)`` gives the floor's realisations for a generated sample
    of ``n_generated`` showers: their mean is the floor, their spread its error.
    """

    def __init__(self, method, rng, ref, ref_h, ref_strata, twin_h, n_bootstrap, gen_counts):
        self.method, self.ref_h, self.twin_h, self.n_ref = method, ref_h, twin_h, len(ref)
        if method == "bootstrap":
            self.first = _bootstrap(rng, ref_strata, _counts(ref_strata), n_bootstrap)
            self.second = {n: _bootstrap(rng, ref_strata, c, n_bootstrap) for n, c in gen_counts.items()}
        elif method == "matched-halves":
            self.halves = _matched_halves(rng, _matched_pairs(ref, ref_strata), len(ref), n_bootstrap)
        else:  # twin: resample shower pairs (reference i, twin i) together for the error
            self.pairs = _bootstrap(rng, ref_strata, _counts(ref_strata), n_bootstrap)

    def wasserstein(self, ref_obs, twin_obs, model: str, n_generated: int) -> np.ndarray:
        """``(K, F)`` realisations of the floor of the 26 Wasserstein-1 distances.

        The W1 distance of two samples of one distribution falls as ``sqrt(1/N₁ + 1/N₂)``, so
        floors measured at other sizes are scaled by the square root of :func:`_size_factor`.
        """
        scale = (ref_obs.mean(axis=0), ref_obs.std(axis=0))
        if self.n_ref < 4 or n_generated < 2:
            return np.full((1, ref_obs.shape[1]), np.nan)
        if self.method == "bootstrap":
            pairs = zip(self.first, self.second[model])
            return np.stack([wasserstein_distances(ref_obs, ref_obs, a, b, scale) for a, b in pairs])
        if self.method == "matched-halves":
            n_half = int(self.halves[0, 0].sum())
            factor = np.sqrt(_size_factor(self.n_ref, n_generated, n_half, n_half))
            return factor * np.stack(
                [wasserstein_distances(ref_obs, ref_obs, a, b, scale) for a, b in self.halves]
            )
        factor = np.sqrt(_size_factor(self.n_ref, n_generated, self.n_ref, self.n_ref))
        central = wasserstein_distances(ref_obs, twin_obs, scale=scale)
        spread = np.stack([wasserstein_distances(ref_obs, twin_obs, w, w, scale) for w in self.pairs])
        return factor * (central + spread - spread.mean(axis=0))

    def values(self, name: str, metric, model: str, n_generated: int) -> np.ndarray:
        if self.n_ref < 4 or n_generated < 2:
            return np.full(1, np.nan)
        if self.method == "bootstrap":
            return metric(self.ref_h(name, self.first), self.ref_h(name, self.second[model]))
        if self.method == "matched-halves":
            n_half = int(self.halves[0, 0].sum())
            scale = _size_factor(self.n_ref, n_generated, n_half, n_half)
            return scale * metric(self.ref_h(name, self.halves[:, 0]), self.ref_h(name, self.halves[:, 1]))
        scale = _size_factor(self.n_ref, n_generated, self.n_ref, self.n_ref)
        # the twin's divergence itself is the floor; the paired resamples give only its spread
        central = metric(self.ref_h(name), self.twin_h(name))
        spread = metric(self.ref_h(name, self.pairs), self.twin_h(name, self.pairs))
        return scale * (central + spread - np.mean(spread))


def _compare_slice(
    result, energy_slice, reference, models, geometry, settings, n_bootstrap, rng, twin, floor_method
) -> None:
    key = energy_slice.key
    in_slice = energy_slice.mask(reference.incident_energy_gev)
    ref = reference.subset(in_slice)
    gens = {
        name: [f.subset(energy_slice.mask(f.incident_energy_gev)) for f in samples]
        for name, samples in models.items()
    }
    edges = binning_for(geometry, energy_slice.energy_max_gev, settings)
    result.binning[key] = edges
    ref_h = _Histograms(ref, edges)
    twin_h = _Histograms(twin.subset(in_slice), edges) if twin is not None else None
    gen_h = {name: [_Histograms(f, edges) for f in samples] for name, samples in gens.items()}
    centres = fixed_energies(reference.incident_energy_gev)
    ref_strata = _strata(ref, centres)
    gen_strata = {name: _strata(s[0], centres) for name, s in gens.items()}
    if not all(set(_counts(g)) <= set(_counts(ref_strata)) for g in gen_strata.values()):
        # Energies the reference lacks (conditions not checked): resample without strata.
        ref_strata = np.zeros(len(ref), dtype=np.int64)
        gen_strata = {name: np.zeros(len(s[0]), dtype=np.int64) for name, s in gens.items()}
    floor = _Floor(
        floor_method,
        rng,
        ref,
        ref_h,
        ref_strata,
        twin_h,
        n_bootstrap,
        {name: _counts(g) for name, g in gen_strata.items()},
    )
    # Error of a single sample: resamples of the generated showers.
    resample = {name: _bootstrap(rng, g, _counts(g), n_bootstrap) for name, g in gen_strata.items()}
    sizes = [len(ref)] + [len(f) for samples in gens.values() for f in samples]
    if 0 < min(sizes) < MIN_SHOWERS_FOR_ERRORS:
        result.warnings.append(
            f"{energy_slice.label}: {len(ref)} reference showers against "
            f"{', '.join(str(len(f)) for samples in gens.values() for f in samples)} generated: errors and "
            f"floors from fewer than {MIN_SHOWERS_FOR_ERRORS} showers are unreliable"
            + (
                " (none is given below 2 showers, or a floor below 4 reference showers)"
                if min(sizes) < 4
                else ""
            )
        )

    result.histograms[key], result.distances[key] = {}, {}
    for obs in OBSERVABLES:
        name = obs.name
        reference_hist = ref_h(name)
        entry = {"reference": {"values": reference_hist, "variances": ref_h.variances(name)}}
        distances = {}
        for model, hists in gen_h.items():
            entry[model] = [{"values": h(name), "variances": h.variances(name)} for h in hists]
            if len(ref) == 0 or any(len(h.features) == 0 for h in hists):
                nan = _summary([float("nan")], float("nan"), float("nan"))
                distances[model] = {"jsd": nan, "separation_power": nan, "error_method": "empty slice"}
                continue
            n_gen = len(hists[0].features)
            boot = hists[0](name, resample[model])
            distances[model] = {
                "error_method": "std over samples" if len(hists) > 1 else "bootstrap of the sample"
            }
            for metric_name, metric in (
                ("jsd", jensen_shannon_divergence),
                ("separation_power", separation_power),
            ):
                floors = floor.values(name, metric, model, n_gen)
                single = np.std(metric(reference_hist[None], boot), ddof=1) if n_gen > 1 else np.nan
                distances[model][metric_name] = _summary(
                    [metric(reference_hist, e["values"]) for e in entry[model]],
                    single,
                    np.mean(floors),
                    np.std(floors, ddof=1) if len(floors) > 1 else np.nan,
                )
        result.histograms[key][name] = entry
        result.distances[key][name] = distances

    convention = result.settings.get("physics_distances", "calozoo")
    result.physics_distances[key] = _physics_distances(ref, gens, rng, convention)
    result.angle_scan[key] = _angle_scan(ref, gens, edges["angle_error"])
    result.wasserstein[key] = _wasserstein(
        ref, twin.subset(in_slice) if twin is not None else None, gens, floor, geometry
    )


def _wasserstein(ref, twin, gens, floor: _Floor, geometry) -> dict:
    """Per model, the 26 Wasserstein-1 distances of the CaloClouds II paper with their floors."""
    out = {}
    if len(ref) < 2:
        return out
    ref_obs = w1_observables(ref, geometry.cell_size_mm)
    twin_obs = None if twin is None else w1_observables(twin, geometry.cell_size_mm)
    scale = (ref_obs.mean(axis=0), ref_obs.std(axis=0))
    for model, samples in gens.items():
        if any(len(f) < 2 for f in samples):
            continue
        per_sample = np.stack(
            [
                wasserstein_distances(ref_obs, w1_observables(f, geometry.cell_size_mm), scale=scale)
                for f in samples
            ]
        )
        floors = floor.wasserstein(ref_obs, twin_obs, model, len(samples[0]))
        mean, floor_mean = per_sample.mean(axis=0), floors.mean(axis=0)
        error = per_sample.std(axis=0, ddof=1) if len(samples) > 1 else np.full(len(mean), np.nan)
        floor_error = floors.std(axis=0, ddof=1) if len(floors) > 1 else np.full(len(mean), np.nan)
        out[model] = {
            name: {
                "mean": float(mean[i]),
                "error": float(error[i]),
                "per_sample": per_sample[:, i].tolist(),
                "floor": float(floor_mean[i]),
                "floor_error": float(floor_error[i]),
                "ratio_to_floor": float(mean[i] / floor_mean[i]) if floor_mean[i] > 0 else float("nan"),
            }
            for i, name in enumerate(W1_OBSERVABLES)
        }
        out[model]["mean_over_observables"] = float(mean.mean())
        out[model]["floor_mean_over_observables"] = float(floor_mean.mean())
    return out


def _physics_distances(
    ref: ShowerFeatures, gens: Mapping[str, list[ShowerFeatures]], rng, convention: str = "calozoo"
) -> dict:
    out = {}
    seed = int(rng.integers(2**31))
    for model, samples in gens.items():
        fpd, kpd = [], []
        for f in samples:
            if len(ref) < 4 or len(f) < 4:
                fpd.append((float("nan"),) * 2)
                kpd.append((float("nan"),) * 2)
                continue
            if convention == "jetnet":
                both = jetnet_physics_distances(ref.high_level(), f.high_level())
                fpd.append(both["fpd"])
                kpd.append(both["kpd"])
                continue
            x_ref, x_gen = standardise(ref.high_level(), f.high_level())
            fpd.append(frechet_physics_distance(x_ref, x_gen, seed=seed))
            kpd.append(kernel_physics_distance(x_ref, x_gen, seed=seed))
        out[model] = {
            "fpd": _summary([v for v, _ in fpd], fpd[0][1]),
            "kpd": _summary([v for v, _ in kpd], kpd[0][1]),
            "error_method": "std over samples" if len(samples) > 1 else "extrapolation fit / batch spread",
            "features": [f"{name} [{unit}]" for name, unit in HIGH_LEVEL_FEATURES],
            "convention": convention,
        }
    return out


def _angle_scan(ref: ShowerFeatures, gens: Mapping[str, list[ShowerFeatures]], edges: np.ndarray) -> dict:
    def hist(values):
        return np.bincount(flow_index(edges, values), minlength=len(edges) + 1)

    percent = ref.angle_scan_percent
    out = {
        "percent": percent,
        "reference_mean_deg": np.nanmean(ref.angle_scan_deg, axis=0) if len(ref) else percent * np.nan,
        "models": {},
    }
    for model, samples in gens.items():
        means = np.array(
            [np.nanmean(f.angle_scan_deg, axis=0) if len(f) else percent * np.nan for f in samples]
        )
        jsd = np.array(
            [
                [
                    jensen_shannon_divergence(hist(ref.angle_scan_deg[:, i]), hist(f.angle_scan_deg[:, i]))
                    for i in range(len(percent))
                ]
                for f in samples
            ]
        )
        out["models"][model] = {
            "mean_deg": means.mean(axis=0),
            "mean_deg_error": means.std(axis=0, ddof=1)
            if len(samples) > 1
            else np.full(len(percent), np.nan),
            "jsd": jsd.mean(axis=0),
        }
    return out


def _describe_geometry(geometry: Geometry) -> dict:
    return {
        "name": geometry.name,
        "class": f"{type(geometry).__module__}.{type(geometry).__qualname__}",
        "n_layers": geometry.n_layers,
        "layer_depth_mm": geometry.layer_depth_mm,
        "cell_size_mm": geometry.cell_size_mm,
        "threshold_mev": geometry.threshold_mev,
    }


def _describe_sample(features: ShowerFeatures) -> dict:
    energies = fixed_energies(features.incident_energy_gev)
    return {
        "n_showers": len(features),
        "incident_energy_gev": {
            "min": float(features.incident_energy_gev.min()),
            "max": float(features.incident_energy_gev.max()),
            "fixed": None if energies is None else energies.tolist(),
        },
        "pdg": sorted(set(features.pdg.tolist())),
    }


# ---------------------------------------------------------------------------------- entry point
def _as_models(generated) -> dict[str, list[Sample]]:
    """``{model: [samples]}`` from one sample, a list of samples (seeds), or a mapping."""
    one = (Showers, CellHits, ShowerFeatures)
    if isinstance(generated, one):
        return {"generated": [generated]}
    if isinstance(generated, Mapping):
        models = {str(name): [s] if isinstance(s, one) else list(s) for name, s in generated.items()}
    else:
        models = {"generated": list(generated)}
    if not models or any(not samples for samples in models.values()):
        raise EvaluationInputError("give at least one generated sample for every model")
    if "reference" in models:
        raise EvaluationInputError("'reference' names the reference sample; give the model another name")
    for name, samples in models.items():
        for s in samples:
            if not isinstance(s, one):
                raise EvaluationInputError(
                    f"model {name!r}: samples must be calozoo.Showers, CellHits or measured ShowerFeatures, "
                    f"got {type(s).__name__}"
                )
    return models


def _showers_of(sample: Sample | ShowerFeatures) -> Showers | ShowerFeatures:
    """The showers (or already measured features) whose conditions are checked."""
    return sample.showers if isinstance(sample, CellHits) else sample


def evaluate(
    generated,
    reference: Sample,
    geometry: Geometry | str,
    *,
    projected: bool = False,
    incident_point_mm=None,
    energies_gev=None,
    energy_tolerance: float = 1e-3,
    settings: BinningSettings | None = None,
    classifier: bool = True,
    low_level_classifier: bool = False,
    angle_scan_percent: Sequence[float] = ANGLE_SCAN_PERCENT,
    n_bootstrap: int = 20,
    seed: int = 0,
    check_conditions: bool = True,
    twin: Sample | None = None,
    floor: str | None = None,
    physics_distances: str = "calozoo",
    batch_size: int = 1000,
    progress: bool = False,
    inputs: Mapping | None = None,
) -> EvaluationResult:
    """Compare generated showers with reference showers in ``geometry``.

    Args:
        generated: one sample, a list of samples of one model (its generator seeds), or
            ``{model name: sample or [samples]}`` for several models in one report. A sample is
            :class:`~calozoo.showers.Showers` (training points, or cell hits with
            ``projected=True``) or :class:`~calozoo.interfaces.CellHits`.
        reference: the reference sample, in the same form, or its already measured
            :class:`~calozoo.evaluation.features.ShowerFeatures` (measured with the same
            geometry and settings, e.g. from the cache ``calozoo evaluate`` keeps).
        geometry: a :class:`~calozoo.interfaces.Geometry` or a registered name.
        projected: the :class:`Showers` inputs already are cell hits of ``geometry``.
        incident_point_mm: where the showers enter, for projection (shared ``(3,)``; ``None``
            for the geometry's default). For one incident point per shower, project yourself and
            pass :class:`CellHits`.
        energies_gev: centres of the fixed-energy slices; default: the reference's distinct
            energies, if it has at most 30 (none for continuous energies).
        energy_tolerance: relative half-width of an energy slice.
        settings: binning settings (default :class:`BinningSettings`).
        classifier: also run the classifier test (seconds per sample).
        low_level_classifier: also run the CaloChallenge's network on the cell energies in a box
            of :data:`LOW_LEVEL_BOX` cells about the axis in every layer (a minute per sample of
            10,000 showers on a CPU); needs ``classifier``.
        angle_scan_percent: percentages of the most energetic cells for the angle scan.
        n_bootstrap: resamples for the statistical floor and single-sample errors.
        seed: fixes every resampling, the classifier's split and training.
        check_conditions: refuse samples whose incident conditions differ from the reference's.
        twin: a second reference sample, independent of the first, with the same per-shower
            incident conditions in the same order (``calozoo simulate OUT --like REF``); the
            divergence between reference and twin is then the statistical floor. Like the
            reference, it may be given as measured features.
        floor: how the floor is estimated: ``"twin"`` (the default with a twin),
            ``"matched-halves"`` (the default without: two halves of the reference matched in
            energy and direction) or ``"bootstrap"`` (resamples of the reference; overstates the
            noise of direction-dependent observables when directions vary).
        physics_distances: ``"calozoo"`` (default) or ``"jetnet"``: how the FPD and KPD are
            computed (see :func:`compare_features`).
        batch_size: showers projected and measured at once.
        progress: show tqdm progress bars.
        inputs: a description of the inputs (e.g. file names) recorded in the results.

    Returns:
        :class:`EvaluationResult`; ``write_report(result, folder)`` writes the report.

    Raises:
        ConditionMismatchError: a generated sample's energies, directions or particles differ
            from the reference's, or the twin's conditions are not the reference's shower by shower.
        EvaluationInputError: raw hits, cells of another geometry, or empty samples.

    Example:
        >>> result = evaluate({"toyflow": [seed1, seed2]}, reference, "ild-ecal-regular")  # doctest: +SKIP
        >>> result.jsd("energy_per_layer")["mean"]                                          # doctest: +SKIP
    """
    if isinstance(geometry, str):
        import calozoo

        geometry = calozoo.geometry(geometry)
    models = _as_models(generated)
    if not isinstance(reference, (Showers, CellHits, ShowerFeatures)):
        raise EvaluationInputError(
            f"reference: expected calozoo.Showers, CellHits or ShowerFeatures, got {type(reference).__name__}"
        )
    ref_showers = _showers_of(reference)
    if len(ref_showers) == 0:
        raise EvaluationInputError("reference: holds no showers")
    slices = energy_slices(ref_showers.incident_energy_gev, energies_gev, energy_tolerance)
    fixed = [s.energy_gev for s in slices[1:]] if energies_gev is None else None
    if check_conditions:
        for name, samples in models.items():
            for i, sample in enumerate(samples):
                label = f"model {name!r}" + (f" sample {i}" if len(samples) > 1 else "")
                check_same_conditions(ref_showers, _showers_of(sample), label, fixed, energy_tolerance)
    if twin is not None:
        check_twin(ref_showers, _showers_of(twin))

    def measure(sample: Sample | ShowerFeatures, label: str) -> ShowerFeatures:
        if isinstance(sample, ShowerFeatures):  # measured before (e.g. a cached reference)
            return sample
        return shower_features(
            sample,
            geometry,
            projected=projected,
            incident_point_mm=incident_point_mm,
            settings=settings,
            angle_scan_percent=angle_scan_percent,
            batch_size=batch_size,
            label=label,
            progress=progress,
            grid_half_width=LOW_LEVEL_HALF_WIDTH if low_level_classifier and classifier else None,
        )

    reference_features = measure(reference, "reference")
    model_features = {
        name: [measure(s, name if len(samples) == 1 else f"{name} #{i}") for i, s in enumerate(samples)]
        for name, samples in models.items()
    }
    twin_features = None if twin is None else measure(twin, "twin")
    result = compare_features(
        reference_features,
        model_features,
        geometry,
        slices=slices,
        settings=settings,
        classifier=classifier,
        n_bootstrap=n_bootstrap,
        seed=seed,
        twin=twin_features,
        floor=floor,
        physics_distances=physics_distances,
        progress=progress,
    )
    result.settings.update(
        {
            "projected": projected,
            "incident_point_mm": None
            if incident_point_mm is None
            else np.asarray(incident_point_mm).tolist(),
            "energy_tolerance": energy_tolerance,
            "classifier": classifier,
            "low_level_classifier": low_level_classifier and classifier,
            "angle_scan_percent": list(angle_scan_percent),
            "check_conditions": check_conditions,
        }
    )
    result.inputs = dict(inputs or {})
    return result
