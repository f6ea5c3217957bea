"""The classifier test: how well can a classifier tell generated from reference showers?

As in the CaloChallenge (Krause et al., arXiv:2410.21611), a classifier is trained to separate
the two samples; its ROC AUC on held-out showers is 0.5 if they are indistinguishable and 1 if
it separates them perfectly. Unlike one-dimensional divergences it sees correlations.

Here the classifier is scikit-learn's histogram gradient boosting (no torch, seconds on a CPU)
on per-shower inputs: the incident conditions, the high-level features and the energy and
occupancy of every layer. The split into training, validation (early stopping) and test showers
is fixed by the seed.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["classifier_test", "auc_standard_error", "SPLIT"]

#: Fractions of showers for training, validation (early stopping) and the test (the AUC).
SPLIT = (0.6, 0.2, 0.2)


def auc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Standard error of a ROC AUC (Hanley and McNeil, Radiology 143 (1982) 29)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (n_positive - 1) * (q1 - auc**2) + (n_negative - 1) * (q2 - auc**2)) / (
        n_positive * n_negative
    )
    return math.sqrt(max(variance, 0.0))


def _strata(reference_energy: np.ndarray, generated_energy: np.ndarray, n_bins: int = 10):
    """Stratum of every shower by incident energy: each fixed energy, or deciles of continuous ones."""
    from .slices import fixed_energies

    centres = fixed_energies(reference_energy)
    if centres is not None:
        return [
            np.abs(e[:, None] - centres[None, :]).argmin(axis=1) for e in (reference_energy, generated_energy)
        ]
    edges = np.quantile(reference_energy, np.linspace(0, 1, n_bins + 1)[1:-1])
    return [np.searchsorted(edges, e, side="right") for e in (reference_energy, generated_energy)]


def classifier_test(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    reference_energy_gev: np.ndarray | None = None,
    generated_energy_gev: np.ndarray | None = None,
    seed: int = 0,
    split: tuple[float, float, float] = SPLIT,
    max_iter: int = 200,
) -> dict:
    """Train a classifier to tell ``generated`` from ``reference`` showers; score it on a test split.

    The split is stratified by incident energy and balanced: in every stratum (each fixed
    energy, or each decile of continuous energies) both samples give the same number of
    showers, shuffled with ``seed`` and split ``split`` (train, validation, test). Without
    this, chance differences in the energy mix of the two classes in the training split would
    teach the classifier the mix, which the test split (holding the rest) has reversed. The
    validation showers stop the boosting early; the test showers give the scores.

    Args:
        reference: ``(N₁, F)`` per-shower inputs of the reference (e.g.
            :meth:`ShowerFeatures.classifier_inputs`).
        generated: ``(N₂, F)`` the same inputs for the generated showers.
        reference_energy_gev: ``(N₁,)`` incident energies for the stratification (default: none).
        generated_energy_gev: ``(N₂,)`` likewise.
        seed: fixes the subsampling, the split and the classifier.
        split: fractions for training, validation and test (adding up to 1).
        max_iter: the most boosting iterations.

    Returns:
        ``auc`` (ROC AUC on the test split), ``auc_error`` (its standard error),
        ``jsd`` (the divergence the classifier's test loss implies, ``ln 2 − BCE`` in nats,
        clipped at 0: 0 for indistinguishable samples, ln 2 for separable ones), ``accuracy``,
        ``n_train``, ``n_validation``, ``n_test`` (showers per class), ``n_inputs``,
        ``iterations``.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss, roc_auc_score

    if not math.isclose(sum(split), 1.0) or min(split) <= 0:
        raise ValueError(f"split must be three positive fractions adding up to 1, got {split}")
    reference = np.asarray(reference, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    if reference_energy_gev is None or generated_energy_gev is None:
        strata = [np.zeros(len(reference), np.int64), np.zeros(len(generated), np.int64)]
    else:
        strata = _strata(np.asarray(reference_energy_gev), np.asarray(generated_energy_gev))
    rng = np.random.default_rng(seed)
    parts = {name: ([], []) for name in ("train", "val", "test")}
    for stratum in np.unique(np.concatenate(strata)):
        members = [np.flatnonzero(s == stratum) for s in strata]
        n = min(len(m) for m in members)
        n_train, n_val = round(split[0] * n), round(split[1] * n)
        for label, (data, m) in enumerate(zip((reference, generated), members)):
            chosen = data[rng.permutation(m)[:n]]
            for name, rows in zip(parts, np.split(chosen, [n_train, n_train + n_val])):
                parts[name][0].append(rows)
                parts[name][1].append(np.full(len(rows), label))
    x = {k: np.concatenate(v[0]) for k, v in parts.items()}
    y = {k: np.concatenate(v[1]) for k, v in parts.items()}
    if len(y["test"]) < 20 or len(y["train"]) < 40:
        raise ValueError(
            f"the classifier test needs at least 50 showers per sample at matching energies, "
            f"got {len(y['train']) // 2 + len(y['val']) // 2 + len(y['test']) // 2}"
        )
    model = HistGradientBoostingClassifier(
        max_iter=max_iter, early_stopping=True, n_iter_no_change=10, random_state=seed
    )
    model.fit(x["train"], y["train"], X_val=x["val"], y_val=y["val"])
    probability = model.predict_proba(x["test"])[:, 1]
    auc = float(roc_auc_score(y["test"], probability))
    n_test = len(y["test"]) // 2
    bce = float(log_loss(y["test"], np.clip(probability, 1e-7, 1 - 1e-7)))
    return {
        "auc": auc,
        "auc_error": auc_standard_error(auc, n_test, n_test),
        "jsd": max(math.log(2.0) - bce, 0.0),
        "accuracy": float(np.mean((probability > 0.5) == y["test"])),
        "n_train": len(y["train"]) // 2,
        "n_validation": len(y["val"]) // 2,
        "n_test": n_test,
        "n_inputs": int(x["train"].shape[1]),
        "iterations": int(model.n_iter_),
    }
