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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..interfaces import CellHits, Geometry
from ..showers import Showers
from .binning import BinningSettings, binning_for, flow_index
from .checks import EvaluationInputError, check_same_conditions
from .classifier import classifier_test
from .distances import (
    frechet_physics_distance,
    jensen_shannon_divergence,
    kernel_physics_distance,
    separation_power,
    standardise,
)
from .features import ANGLE_SCAN_PERCENT, ShowerFeatures, shower_features
from .observables import HIGH_LEVEL_FEATURES, OBSERVABLES
from .slices import EnergySlice, energy_slices, fixed_energies

__all__ = ["evaluate", "EvaluationResult", "compare_features"]

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
        settings: the options the evaluation ran with (binning settings included).
        inputs: where the samples came from (file names), as the caller recorded them.
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
    inputs: dict = field(default_factory=dict)

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


def _summary(per_sample: Sequence[float], single_error: float, floor: float | None = None) -> dict:
    values = np.asarray(per_sample, dtype=np.float64)
    mean = float(np.mean(values)) if len(values) else float("nan")
    error = float(np.std(values, ddof=1)) if len(values) > 1 else float(single_error)
    out = {"mean": mean, "error": error, "per_sample": values.tolist()}
    if floor is not None:
        out["floor"] = float(floor)
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
    progress: bool = False,
) -> EvaluationResult:
    """Compare already-measured samples (see :func:`evaluate`, which measures them first)."""
    from tqdm.auto import tqdm

    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be at least 2 (a spread needs two resamples), got {n_bootstrap}")
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
        settings={"binning": settings.to_dict(), "n_bootstrap": n_bootstrap, "seed": seed},
    )
    for energy_slice in tqdm(slices, desc="comparing", unit="slice", disable=not progress):
        _compare_slice(result, energy_slice, reference, models, geometry, settings, n_bootstrap, rng)
    if classifier:
        result.classifier = {}
        inputs = reference.classifier_inputs()
        for name, samples in tqdm(models.items(), desc="classifier", unit="model", disable=not progress):
            runs = [
                classifier_test(
                    inputs,
                    f.classifier_inputs(),
                    reference_energy_gev=reference.incident_energy_gev,
                    generated_energy_gev=f.incident_energy_gev,
                    seed=seed,
                )
                for f in samples
            ]
            result.classifier[name] = {
                "auc": _summary([r["auc"] for r in runs], runs[0]["auc_error"]),
                "jsd": _summary([r["jsd"] for r in runs], float("nan")),
                "accuracy": _summary([r["accuracy"] for r in runs], float("nan")),
                "error_method": "std over samples" if len(runs) > 1 else "Hanley-McNeil standard error",
                "runs": runs,
            }
    return result


def _compare_slice(result, energy_slice, reference, models, geometry, settings, n_bootstrap, rng) -> None:
    key = energy_slice.key
    ref = reference.subset(energy_slice.mask(reference.incident_energy_gev))
    gens = {
        name: [f.subset(energy_slice.mask(f.incident_energy_gev)) for f in samples]
        for name, samples in models.items()
    }
    edges = binning_for(geometry, energy_slice.energy_max_gev, settings)
    result.binning[key] = edges
    ref_h = _Histograms(ref, edges)
    gen_h = {name: [_Histograms(f, edges) for f in samples] for name, samples in gens.items()}
    centres = fixed_energies(reference.incident_energy_gev)
    ref_strata = _strata(ref, centres)
    gen_strata = {name: _strata(s[0], centres) for name, s in gens.items()}
    if not all(set(_counts(g)) <= set(_counts(ref_strata)) for g in gen_strata.values()):
        # Energies the reference lacks (conditions not checked): resample without strata.
        ref_strata = np.zeros(len(ref), dtype=np.int64)
        gen_strata = {name: np.zeros(len(s[0]), dtype=np.int64) for name, s in gens.items()}
    # Floor: two resamples of the reference, of the reference's and the generated sample's size.
    floor_a = _bootstrap(rng, ref_strata, _counts(ref_strata), n_bootstrap)
    floor_b = {name: _bootstrap(rng, ref_strata, _counts(g), n_bootstrap) for name, g in gen_strata.items()}
    # Error of a single sample: resamples of the generated showers.
    resample = {name: _bootstrap(rng, g, _counts(g), n_bootstrap) for name, g in gen_strata.items()}

    result.histograms[key], result.distances[key] = {}, {}
    for obs in OBSERVABLES:
        name = obs.name
        reference_hist = ref_h(name)
        entry = {"reference": {"values": reference_hist, "variances": ref_h.variances(name)}}
        floor_ref = ref_h(name, floor_a)
        distances = {}
        for model, hists in gen_h.items():
            entry[model] = [{"values": h(name), "variances": h.variances(name)} for h in hists]
            if len(ref) == 0 or any(len(h.features) == 0 for h in hists):
                nan = _summary([float("nan")], float("nan"), float("nan"))
                distances[model] = {"jsd": nan, "separation_power": nan, "error_method": "empty slice"}
                continue
            floor_gen = ref_h(name, floor_b[model])
            jsd = [jensen_shannon_divergence(reference_hist, e["values"]) for e in entry[model]]
            sep = [separation_power(reference_hist, e["values"]) for e in entry[model]]
            boot = hists[0](name, resample[model])
            distances[model] = {
                "jsd": _summary(
                    jsd,
                    np.std(jensen_shannon_divergence(reference_hist[None], boot), ddof=1),
                    np.mean(jensen_shannon_divergence(floor_ref, floor_gen)),
                ),
                "separation_power": _summary(
                    sep,
                    np.std(separation_power(reference_hist[None], boot), ddof=1),
                    np.mean(separation_power(floor_ref, floor_gen)),
                ),
                "error_method": "std over samples" if len(hists) > 1 else "bootstrap of the sample",
            }
        result.histograms[key][name] = entry
        result.distances[key][name] = distances

    result.physics_distances[key] = _physics_distances(ref, gens, rng)
    result.angle_scan[key] = _angle_scan(ref, gens, edges["angle_error"])


def _physics_distances(ref: ShowerFeatures, gens: Mapping[str, list[ShowerFeatures]], rng) -> dict:
    out = {}
    seed = int(rng.integers(2**31))
    for model, samples in gens.items():
        fpd, kpd = [], []
        for f in samples:
            if len(ref) < 4 or len(f) < 4:
                fpd.append((float("nan"),) * 2)
                kpd.append((float("nan"),) * 2)
                continue
            x_ref, x_gen = standardise(ref.high_level(), f.high_level())
            fpd.append(frechet_physics_distance(x_ref, x_gen, seed=seed))
            kpd.append(kernel_physics_distance(x_ref, x_gen, seed=seed))
        out[model] = {
            "fpd": _summary([v for v, _ in fpd], fpd[0][1]),
            "kpd": _summary([v for v, _ in kpd], kpd[0][1]),
            "error_method": "std over samples" if len(samples) > 1 else "extrapolation fit / batch spread",
            "features": [f"{name} [{unit}]" for name, unit in HIGH_LEVEL_FEATURES],
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
    if isinstance(generated, (Showers, CellHits)):
        return {"generated": [generated]}
    if isinstance(generated, Mapping):
        models = {
            str(name): [s] if isinstance(s, (Showers, CellHits)) else list(s) for name, s in generated.items()
        }
    else:
        models = {"generated": list(generated)}
    if not models or any(not samples for samples in models.values()):
        raise EvaluationInputError("give at least one generated sample for every model")
    if "reference" in models:
        raise EvaluationInputError("'reference' names the reference sample; give the model another name")
    for name, samples in models.items():
        for s in samples:
            if not isinstance(s, (Showers, CellHits)):
                raise EvaluationInputError(
                    f"model {name!r}: samples must be calozoo.Showers or CellHits, got {type(s).__name__}"
                )
    return models


def _showers_of(sample: Sample) -> Showers:
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
    angle_scan_percent: Sequence[float] = ANGLE_SCAN_PERCENT,
    n_bootstrap: int = 20,
    seed: int = 0,
    check_conditions: bool = True,
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
        reference: the reference sample, in the same form.
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
        angle_scan_percent: percentages of the most energetic cells for the angle scan.
        n_bootstrap: resamples for the statistical floor and single-sample errors.
        seed: fixes every resampling, the classifier's split and training.
        check_conditions: refuse samples whose incident conditions differ from the reference's.
        batch_size: showers projected and measured at once.
        progress: show tqdm progress bars.
        inputs: a description of the inputs (e.g. file names) recorded in the results.

    Returns:
        :class:`EvaluationResult`; ``write_report(result, folder)`` writes the report.

    Raises:
        ConditionMismatchError: a generated sample's energies, directions or particles differ
            from the reference's.
        EvaluationInputError: raw hits, cells of another geometry, or empty samples.

    Example:
        >>> result = evaluate({"toyflow": [seed1, seed2]}, reference, "ild-ecal-regular")  # doctest: +SKIP
        >>> result.jsd("energy_per_layer")["mean"]                                          # doctest: +SKIP
    """
    if isinstance(geometry, str):
        import calozoo

        geometry = calozoo.geometry(geometry)
    models = _as_models(generated)
    if not isinstance(reference, (Showers, CellHits)):
        raise EvaluationInputError(
            f"reference: expected calozoo.Showers or CellHits, got {type(reference).__name__}"
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

    def measure(sample: Sample, label: str) -> ShowerFeatures:
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
        )

    reference_features = measure(reference, "reference")
    model_features = {
        name: [measure(s, name if len(samples) == 1 else f"{name} #{i}") for i, s in enumerate(samples)]
        for name, samples in models.items()
    }
    result = compare_features(
        reference_features,
        model_features,
        geometry,
        slices=slices,
        settings=settings,
        classifier=classifier,
        n_bootstrap=n_bootstrap,
        seed=seed,
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
            "angle_scan_percent": list(angle_scan_percent),
            "check_conditions": check_conditions,
        }
    )
    result.inputs = dict(inputs or {})
    return result
