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

from ..errors import CalozooError

__all__ = [
    "classifier_test",
    "auc_standard_error",
    "canonical_conditions",
    "split_keys",
    "SPLIT",
    "MIN_SHOWERS",
    "DNN_SETTINGS",
    "TorchMissingError",
]

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


def canonical_conditions(reference: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both samples' condition columns from one source, so rounding-level differences vanish.

    A classifier that takes the incident conditions as inputs learns any difference between
    them, even ``1e-16`` from re-normalising a unit vector: at a fixed direction that alone
    separates the samples perfectly. So every generated value within ``1e-9`` (relative, and
    absolute below 1) of a reference value becomes that reference value, and then both samples
    are rounded to float32 precision (what the field's files keep anyway).

    Args:
        reference: ``(N₁, C)`` conditions (e.g. energy in GeV and the direction's components).
        generated: ``(N₂, C)`` the same columns.
    """
    reference = np.array(reference, dtype=np.float64, ndmin=2)
    generated = np.array(generated, dtype=np.float64, ndmin=2)
    for column in range(reference.shape[1]):
        values = np.unique(reference[:, column])
        if len(values) == 0:
            continue
        mine = generated[:, column]
        right = np.clip(np.searchsorted(values, mine), 0, len(values) - 1)
        left = np.clip(right - 1, 0, len(values) - 1)
        nearest = np.where(
            np.abs(values[left] - mine) <= np.abs(values[right] - mine), values[left], values[right]
        )
        close = np.abs(nearest - mine) <= 1e-9 * np.maximum(1.0, np.abs(mine))
        generated[close, column] = nearest[close]
    as_float32 = [(a.astype(np.float32).astype(np.float64) + 0.0) for a in (reference, generated)]
    return as_float32[0], as_float32[1]


def split_keys(rows: np.ndarray, seed: int) -> np.ndarray:
    """``(N,)`` a number in ``[0, 1)`` per row, a hash of the row's content and ``seed``.

    Showers are assigned to the training, validation and test splits by this key, not by a
    shuffle of each sample: a shower present in both samples (a generator that copies its
    training data, or a sample evaluated against itself) then lands in the same split with both
    labels and teaches the classifier nothing. Shuffling each sample separately would put a
    shower in the training split as "reference" and its copy in the test split as
    "generated", which the classifier then gets wrong on purpose: AUC far below 0.5.
    """
    import hashlib

    rows = np.ascontiguousarray(np.asarray(rows, dtype=np.float32))
    salt = np.int64(seed).tobytes()
    keys = np.empty(len(rows))
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8, salt=salt[:8].ljust(16, b"\0")).digest()
        keys[i] = int.from_bytes(digest, "little") / 2.0**64
    return keys


#: The fewest showers per sample (at matching energies) the classifier test runs on.
MIN_SHOWERS = 50


def classifier_test(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    reference_energy_gev: np.ndarray | None = None,
    generated_energy_gev: np.ndarray | None = None,
    n_conditions: int = 0,
    seed: int = 0,
    split: tuple[float, float, float] = SPLIT,
    max_iter: int = 200,
    kind: str = "boosting",
) -> dict:
    """Train a classifier to tell ``generated`` from ``reference`` showers; score it on a test split.

    The split protocol makes the AUC 0.5 for a sample against itself as well as for two
    independent samples of one distribution:

    - every shower goes to training, validation or test by a hash of its content and ``seed``
      (:func:`split_keys`), so a shower and its copy always share a split;
    - the first ``n_conditions`` columns (incident conditions) are taken from one canonical
      source (:func:`canonical_conditions`), so rounding-level differences cannot be learned,
      and they are left out of the hash;
    - within each split and stratum of incident energy (each fixed energy, or each decile of
      continuous energies) both classes give the same number of showers, those of the lowest
      keys. Without the balance, chance differences in the energy mix of the two classes in the
      training split would teach the classifier the mix, which the test split has reversed.

    The validation showers stop the boosting early; the test showers give the scores.

    Args:
        reference: ``(N₁, F)`` per-shower inputs of the reference (e.g.
            :meth:`ShowerFeatures.classifier_inputs`, whose first 4 columns are conditions).
        generated: ``(N₂, F)`` the same inputs for the generated showers.
        reference_energy_gev: ``(N₁,)`` incident energies for the stratification (default: none).
        generated_energy_gev: ``(N₂,)`` likewise.
        n_conditions: how many leading columns are incident conditions.
        seed: fixes the split and the classifier.
        split: fractions for training, validation and test (adding up to 1).
        max_iter: the most boosting iterations.
        kind: ``"boosting"`` (scikit-learn's histogram gradient boosting, early-stopped on the
            validation split) or ``"dnn"`` (the CaloChallenge's fully connected network, see
            :func:`_fit_dnn`, for the low-level inputs).

    Returns:
        ``auc`` (ROC AUC on the test split), ``auc_error`` (its standard error),
        ``jsd`` (the divergence the classifier's test loss implies, ``ln 2 − BCE`` in nats,
        clipped at 0: 0 for indistinguishable samples, ln 2 for separable ones), ``jsd_bits``
        (the same divided by ln 2, as the CaloChallenge's evaluate.py reports it),
        ``accuracy``, ``n_train``, ``n_validation``, ``n_test`` (showers per class),
        ``n_inputs``, ``iterations``.

    Raises:
        ValueError: fewer than :data:`MIN_SHOWERS` showers per sample at matching energies.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss, roc_auc_score

    if not math.isclose(sum(split), 1.0) or min(split) <= 0:
        raise ValueError(f"split must be three positive fractions adding up to 1, got {split}")
    reference = np.array(reference, dtype=np.float64)
    generated = np.array(generated, dtype=np.float64)
    if n_conditions:
        reference[:, :n_conditions], generated[:, :n_conditions] = canonical_conditions(
            reference[:, :n_conditions], generated[:, :n_conditions]
        )
    if reference_energy_gev is None or generated_energy_gev is None:
        strata = [np.zeros(len(reference), np.int64), np.zeros(len(generated), np.int64)]
    else:
        strata = _strata(np.asarray(reference_energy_gev), np.asarray(generated_energy_gev))
    keys = [split_keys(data[:, n_conditions:], seed) for data in (reference, generated)]
    bounds = np.cumsum(split)[:2]
    parts = [np.searchsorted(bounds, k, side="right") for k in keys]  # 0 train, 1 validation, 2 test
    x, y = {}, {}
    for part, name in enumerate(("train", "val", "test")):
        rows, labels = [], []
        for stratum in np.unique(np.concatenate(strata)):
            members = [np.flatnonzero((s == stratum) & (p == part)) for s, p in zip(strata, parts)]
            n = min(len(m) for m in members)
            for label, (data, m, k) in enumerate(zip((reference, generated), members, keys)):
                rows.append(data[m[np.argsort(k[m], kind="stable")[:n]]])
                labels.append(np.full(n, label))
        x[name], y[name] = np.concatenate(rows), np.concatenate(labels)
    n_per_class = sum(len(v) for v in y.values()) // 2
    if n_per_class < MIN_SHOWERS or min(len(v) for v in y.values()) < 4:
        raise ValueError(
            f"the classifier test needs at least {MIN_SHOWERS} showers per sample at matching "
            f"energies, got {n_per_class}"
        )
    if kind == "boosting":
        model = HistGradientBoostingClassifier(
            max_iter=max_iter, early_stopping=True, n_iter_no_change=10, random_state=seed
        )
        model.fit(x["train"], y["train"], X_val=x["val"], y_val=y["val"])
        probability, iterations = model.predict_proba(x["test"])[:, 1], int(model.n_iter_)
    elif kind == "dnn":
        probability, iterations = _fit_dnn(x, y, seed)
    else:
        raise ValueError(f"kind must be 'boosting' or 'dnn', got {kind!r}")
    auc = float(roc_auc_score(y["test"], probability))
    n_test = len(y["test"]) // 2
    bce = float(log_loss(y["test"], np.clip(probability, 1e-7, 1 - 1e-7)))
    jsd = max(math.log(2.0) - bce, 0.0)
    return {
        "auc": auc,
        "auc_error": auc_standard_error(auc, n_test, n_test),
        "jsd": jsd,
        "jsd_bits": jsd / math.log(2.0),
        "accuracy": float(np.mean((probability > 0.5) == y["test"])),
        "n_train": len(y["train"]) // 2,
        "n_validation": len(y["val"]) // 2,
        "n_test": n_test,
        "n_inputs": int(x["train"].shape[1]),
        "iterations": iterations,
        "kind": kind,
    }


class TorchMissingError(CalozooError, ImportError):
    """The CaloChallenge DNN classifier was asked for, but torch cannot be imported (the core needs none)."""


#: The CaloChallenge's classifier settings (their evaluate.py defaults): layers, width, dropout,
#: batch size, epochs, learning rate.
DNN_SETTINGS = {"n_layers": 2, "n_hidden": 512, "dropout": 0.0, "batch_size": 1000, "epochs": 50, "lr": 2e-4}


def _fit_dnn(x: dict, y: dict, seed: int) -> tuple[np.ndarray, int]:
    """Train the CaloChallenge's classifier network; the test split's probabilities and the best epoch.

    A fully connected network (``n_layers`` hidden layers of ``n_hidden`` with leaky ReLU),
    binary cross-entropy, Adam at ``lr`` for ``epochs`` epochs in batches of ``batch_size``;
    the epoch with the lowest validation loss is kept, as the CaloChallenge does. One
    difference: every input is standardised by the training split's mean and standard deviation
    (cell energies over the incident energy span many decades, and unscaled inputs make Adam's
    50 epochs too few on CPU-sized samples).
    """
    try:
        import torch
    except ImportError as err:
        raise TorchMissingError(
            f"the low-level (CaloChallenge DNN) classifier needs torch, which cannot be imported ({err}): "
            "pip install calozoo-engine (or torch==2.13.0, or calozoo[torch]); the default "
            "gradient-boosting classifier needs no torch"
        ) from None

    settings = DNN_SETTINGS
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mean, std = x["train"].mean(axis=0), x["train"].std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def tensor(name):
        return torch.as_tensor((x[name] - mean) / std, dtype=torch.float32)

    inputs = {name: tensor(name) for name in x}
    labels = {name: torch.as_tensor(y[name], dtype=torch.float32) for name in y}
    layers, width = [], inputs["train"].shape[1]
    for _ in range(settings["n_layers"]):
        layers += [torch.nn.Linear(width, settings["n_hidden"]), torch.nn.LeakyReLU()]
        layers.append(torch.nn.Dropout(settings["dropout"]))
        width = settings["n_hidden"]
    network = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    optimiser = torch.optim.Adam(network.parameters(), lr=settings["lr"])
    loss_of = torch.nn.BCEWithLogitsLoss()
    best, best_epoch, best_state = math.inf, 0, None
    for epoch in range(settings["epochs"]):
        network.train()
        order = torch.randperm(len(labels["train"]), generator=generator)
        for start in range(0, len(order), settings["batch_size"]):
            batch = order[start : start + settings["batch_size"]]
            optimiser.zero_grad()
            loss_of(network(inputs["train"][batch]).squeeze(1), labels["train"][batch]).backward()
            optimiser.step()
        network.eval()
        with torch.no_grad():
            loss = float(loss_of(network(inputs["val"]).squeeze(1), labels["val"]))
        if loss < best:
            best, best_epoch = loss, epoch + 1
            best_state = {k: v.clone() for k, v in network.state_dict().items()}
    network.load_state_dict(best_state)
    with torch.no_grad():
        probability = torch.sigmoid(network(inputs["test"]).squeeze(1)).double().numpy()
    return probability, best_epoch
