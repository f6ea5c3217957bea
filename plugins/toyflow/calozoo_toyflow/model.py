"""toyflow: a conditional normalising flow over per-layer point counts and energies, plus a point sampler.

The model reads top to bottom:

1. **Features** — a shower becomes 60 numbers: for the point counts and for the visible
   energies of its 30 layers, the log of the total and the logits of the share each layer takes
   of what the deeper layers leave (:func:`stick_breaking`). Each number is then standardised
   around a least-squares fit on the incident energy and angle (:func:`baseline_inputs`). The
   flow is conditioned on ``c = [E / 127 GeV, p_x, p_y, p_z]`` (:func:`conditioning`).
2. **Flow** — a masked autoregressive flow (MAF, Papamakarios et al., arXiv:1705.07057) built
   from normflows pieces (:func:`build_flow`).
3. **Model** — :class:`ToyFlow`: ``fit`` learns the flow and, from the same showers, how far
   points lie from the axis in each layer and how unevenly a layer's energy is shared between
   its points; ``generate`` samples the 60 numbers, then scatters that many points with that
   much energy around the shower axis (training-point convention: the tilt removed).

It is deliberately small (about 80k weights, trains in seconds on a CPU) but real: it is the
worked example of a trainable calozoo model, with save/load, seeding and tests like the big ones.

Example:
    >>> from calozoo_toyflow.gamma import ToyGammaShowers
    >>> train = ToyGammaShowers().sample(energy=[20.0, 60.0] * 50, seed=0)
    >>> model = ToyFlow(hidden_features=32).fit(train, epochs=2, seed=0)
    >>> model.sample(energy=40.0, seed=1).points.shape[2]
    4
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import normflows as nf
import numpy as np
import torch

from calozoo.conditions import Conditions
from calozoo.interfaces import ShowerModel
from calozoo.seeding import shower_rngs
from calozoo.showers import Showers

from .points import build_showers, layer_summaries, radial_distances_mm

__all__ = [
    "ToyFlow",
    "MaskedAffineLayer",
    "build_flow",
    "stick_breaking",
    "unstick",
    "shower_features",
    "layers_from_features",
    "baseline_inputs",
    "conditioning",
    "load_pretrained",
    "SHIPPED_WEIGHTS",
]

#: The trained toyflow inside the installed package (written by ``python -m calozoo_toyflow.train``).
SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "toyflow"

N_LAYERS = ShowerModel.n_layers
#: Incident energies enter the flow as ``E / ENERGY_SCALE_GEV`` (the top of the toy range).
ENERGY_SCALE_GEV = 127.0
#: Quantiles per layer of the radial distance table (0%, 1%, ..., 100%).
N_RADIAL_QUANTILES = 101
#: Loaded with ``batch_invariant=True`` the flow runs on blocks of this many rows (the last one
#: zero-padded), so each row rounds the same whatever the batch size (see :meth:`ToyFlow._flow_rows`).
FLOW_ROW_BLOCK = 64


# ---------------------------------------------------------------------------- features
#: Columns of the two totals (log point count, log energy) among the 60 features.
TOTALS = [0, N_LAYERS]
#: Dequantisation width of the layer energies, MeV: far below the energy of one point (~0.3 MeV),
#: it only keeps empty layers from being exact zeros.
ENERGY_JITTER_MEV = 0.01


def stick_breaking(values: np.ndarray) -> np.ndarray:
    """``(N, L)`` positive per-layer values -> ``[ln total, logit f_0, ..., logit f_(L-2)]``.

    ``f_i = v_i / (v_i + ... + v_(L-1))`` is the share of what is left that layer ``i`` takes
    (the CaloFlow parametrisation, Krause & Shih, arXiv:2106.05285). Unlike plain per-layer
    values, any sampled fractions rebuild layers that add up exactly to the sampled total, so
    errors in the shape of a shower cannot spoil its energy resolution.
    """
    left = np.cumsum(values[:, ::-1], axis=1)[:, ::-1]  # left[:, i] = v_i + ... + v_(L-1)
    fraction = np.clip(values[:, :-1] / left[:, :-1], 1e-9, 1 - 1e-9)
    return np.concatenate([np.log(left[:, :1]), np.log(fraction) - np.log1p(-fraction)], axis=1)


def unstick(features: np.ndarray) -> np.ndarray:
    """Inverse of :func:`stick_breaking`: ``(N, L)`` per-layer values."""
    total = np.exp(features[:, :1])
    fraction = 0.5 * (1.0 + np.tanh(0.5 * features[:, 1:]))  # the logistic function, without overflow
    left = total * np.concatenate([np.ones_like(total), np.cumprod(1.0 - fraction, axis=1)], axis=1)
    return np.concatenate([left[:, :-1] * fraction, left[:, -1:]], axis=1)


def shower_features(counts: np.ndarray, energies_mev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(N, 60)`` flow inputs: :func:`stick_breaking` of the point counts, then of the energies.

    Counts are integers; adding noise uniform in ``[0, 1)`` ("dequantisation") spreads each
    integer over a unit interval so that the flow sees a density instead of spikes, and flooring
    a sample gives the integer back. Energies get a tiny jitter for the same reason.

    Args:
        counts: ``(N, 30)`` points per layer.
        energies_mev: ``(N, 30)`` visible energy per layer, MeV.
        rng: draws the dequantisation noise.
    """
    noisy_counts = counts + rng.uniform(0.0, 1.0, counts.shape)
    noisy_energies = energies_mev + rng.uniform(0.0, ENERGY_JITTER_MEV, counts.shape)
    return np.concatenate([stick_breaking(noisy_counts), stick_breaking(noisy_energies)], axis=1)


def layers_from_features(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`shower_features`: int64 counts and energies (MeV), both ``(N, 30)``."""
    counts = np.floor(unstick(features[:, :N_LAYERS])).astype(np.int64)
    energies = unstick(features[:, N_LAYERS:])
    energies[counts == 0] = 0.0  # no points, no energy (what is left is the jitter)
    counts[energies <= 0] = 0  # an energy that underflowed: no points either
    return counts, energies


def baseline_inputs(energy_gev: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``(B, 6)`` regressors of the features' mean: ``[1, ℓ, ℓ², ℓ³, 1 / p_z, ℓ / p_z]``, ``ℓ = ln(E / GeV)``.

    Totals grow like a power of ``E``, the shower maximum moves deeper like ``ln E``, and an
    inclined shower crosses ``1 / p_z`` times more material per layer.
    """
    log_e = np.log(np.asarray(energy_gev, dtype=np.float64))
    slant = 1.0 / np.asarray(direction, dtype=np.float64)[:, 2]
    return np.stack([np.ones_like(log_e), log_e, log_e**2, log_e**3, slant, log_e * slant], axis=1)


def _rowwise_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` summed term by term, so each row's result does not depend on how many rows there are
    (a BLAS product may round a row differently for another number of rows)."""
    out = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        out += a[:, k : k + 1] * b[k]
    return out


def conditioning(energy_gev: np.ndarray, direction: np.ndarray) -> torch.Tensor:
    """``(B, 4)`` float32 context ``[E / 127 GeV, p_x, p_y, p_z]`` of the flow."""
    context = np.concatenate([np.asarray(energy_gev)[:, None] / ENERGY_SCALE_GEV, direction], axis=1)
    return torch.as_tensor(context, dtype=torch.float32)


# ---------------------------------------------------------------------------- the flow
class MaskedAffineLayer(nf.flows.Flow):
    """One MAF layer: ``x_i = σ_i z_i + μ_i`` with ``(σ_i, μ_i)`` a MADE network of ``x_<i`` and the context.

    Density evaluation (training) takes one network pass: ``z = (x - μ(x)) / σ(x)``. Sampling
    takes one pass per feature (60), cheap under ``torch.no_grad``. ``σ`` is a sigmoid, so
    sampling only ever shrinks the noise: a far-out latent draw cannot blow up into a shower
    with a million points.

    Why not ``nf.flows.MaskedAffineAutoregressive``: it computes ``(σ, μ)`` from the *latent*
    side (the inverse autoregressive flow), so each training step would need 60 passes per layer.
    This layer reuses its MADE network and its parametrisation of ``σ``, turned the MAF way.
    """

    def __init__(self, features: int, hidden_features: int, context_features: int, num_blocks: int) -> None:
        super().__init__()
        self.features = features
        self.made = nf.nets.made.MADE(
            features,
            hidden_features,
            context_features=context_features,
            num_blocks=num_blocks,
            output_multiplier=2,
        )

    def scale_and_shift(self, x: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.made(x, context).view(-1, self.features, 2)
        # sigmoid(a + 2) starts near 0.9 (close to the identity); 1e-3 keeps σ away from zero.
        return torch.sigmoid(params[..., 0] + 2.0) + 1e-3, params[..., 1]

    def forward(self, z, context=None):  # latent -> data
        x = torch.zeros_like(z)
        for _ in range(self.features):  # after pass i, features 0..i are final
            scale, shift = self.scale_and_shift(x, context)
            x = scale * z + shift
        return x, torch.log(scale).sum(dim=1)

    def inverse(self, x, context=None):  # data -> latent
        scale, shift = self.scale_and_shift(x, context)
        return (x - shift) / scale, -torch.log(scale).sum(dim=1)


def build_flow(features: int, context_features: int, hidden_features: int, num_layers: int, num_blocks: int):
    """A conditional MAF: ``num_layers`` autoregressive layers, halves swapped between them.

    The swap lets the counts condition the energies in one layer and the energies condition
    the counts in the next. No ActNorm or BatchNorm: in normflows they ignore the context and
    break ``ConditionalNormalizingFlow``; the features are standardised beforehand instead. The
    base distribution is a fixed standard normal, sampled by :meth:`ToyFlow.generate` itself.
    """
    flows = []
    for _ in range(num_layers):
        flows.append(MaskedAffineLayer(features, hidden_features, context_features, num_blocks))
        flows.append(nf.flows.Permute(features, mode="swap"))
    base = nf.distributions.DiagGaussian(features, trainable=False)
    return nf.ConditionalNormalizingFlow(q0=base, flows=flows)


# ---------------------------------------------------------------------------- the model
class ToyFlow(ShowerModel):
    """A conditional normalising flow for per-layer counts and energies, with a fitted point sampler.

    scikit-learn style: ``__init__`` stores settings, :meth:`fit` learns; the learned state lives
    in the attributes ending in ``_``.

    Args:
        hidden_features: width of each MADE network.
        num_layers: number of autoregressive flow layers.
        num_blocks: residual blocks per MADE network.
        energy_range_gev: incident energies accepted, GeV (those it was trained on).
        max_angle_deg: largest angle to the layer normal accepted (as trained).

    Learned state (after :meth:`fit` or :meth:`load`):
        flow_: the normflows ``ConditionalNormalizingFlow``.
        feature_baseline_: ``(6, 60)`` least-squares coefficients of the features on
            :func:`baseline_inputs` (their mean as a function of the conditions).
        feature_std_: ``(60,)`` spread of the features around that mean.
        log_total_max_: ``(2,)`` largest log total count and log total energy (MeV) in training.
        radius_quantiles_mm_: ``(30, 101)`` quantiles of the distance from the axis per layer, mm.
        point_energy_sigma_: ``(30,)`` log-normal width of point energies within a layer.
        training_: how it was trained (settings and mean NLL per epoch, nats per shower).
    """

    name = "toyflow"

    def __init__(
        self,
        *,
        hidden_features: int = 64,
        num_layers: int = 4,
        num_blocks: int = 1,
        energy_range_gev: tuple[float, float] = (1.0, 127.0),
        max_angle_deg: float = 60.0,
    ) -> None:
        self.hidden_features = int(hidden_features)
        self.num_layers = int(num_layers)
        self.num_blocks = int(num_blocks)
        self.energy_range_gev = (float(energy_range_gev[0]), float(energy_range_gev[1]))
        self.max_angle_deg = float(max_angle_deg)
        self.flow_: nf.ConditionalNormalizingFlow | None = None
        self.training_: dict[str, Any] = {}
        #: evaluate the flow in fixed blocks of rows: bit-identical showers for any batch size
        self.batch_invariant = False

    @property
    def conditions(self) -> Conditions:
        low, high = self.energy_range_gev
        return Conditions(
            energy_min_gev=low, energy_max_gev=high, pdg=(22,), max_angle_deg=self.max_angle_deg
        )

    def _new_flow(self) -> nf.ConditionalNormalizingFlow:
        return build_flow(2 * N_LAYERS, 4, self.hidden_features, self.num_layers, self.num_blocks)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        showers: Showers,
        *,
        epochs: int = 60,
        lr: float = 4e-3,
        batch_size: int = 128,
        seed: int = 0,
        progress: bool = False,
    ) -> ToyFlow:
        """Learn the flow and the point sampler from ``showers`` (``z`` in layer units, ``e`` MeV).

        Maximum likelihood with Adam and a cosine learning-rate decay; the same showers and seed
        give the same model. The global torch random state is left as it was.

        Args:
            showers: training showers, inside :attr:`conditions`.
            epochs: passes over the showers.
            lr: initial learning rate of Adam.
            batch_size: showers per step.
            seed: seeds the weight initialisation, the shuffling and the dequantisation noise.
            progress: show a tqdm progress bar over the epochs.
        """
        from tqdm.auto import tqdm

        self.conditions.validate(showers.incident_energy_gev, showers.direction, showers.pdg)
        counts, energies = layer_summaries(showers, N_LAYERS)
        self._fit_point_sampler(showers, counts, energies)

        # Conditional standardisation: a least-squares fit of each feature on a few functions of
        # the conditions takes out the bulk of the energy and angle dependence, so the flow
        # spends its capacity on the fluctuations and the correlations between layers.
        rng = np.random.default_rng(seed)
        features = shower_features(counts, energies, rng)
        inputs = baseline_inputs(showers.incident_energy_gev, showers.direction)
        self.feature_baseline_ = np.linalg.lstsq(inputs, features, rcond=None)[0]
        residual = features - inputs @ self.feature_baseline_
        # Deep layers of low-energy showers are often empty: a floor keeps their scale finite.
        self.feature_std_ = np.maximum(residual.std(axis=0), 0.02)
        self.log_total_max_ = features[:, TOTALS].max(axis=0)
        mean = inputs @ self.feature_baseline_
        context = conditioning(showers.incident_energy_gev, showers.direction)

        with torch.random.fork_rng(devices=[]):  # seeds the initial weights, then restores the user's state
            torch.manual_seed(seed)
            flow = self._new_flow()
        optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
        steps = epochs * -(-len(showers) // batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
        history = []
        flow.train()
        for _ in tqdm(range(epochs), desc="toyflow", unit="epoch", disable=not progress):
            total = 0.0
            for batch in np.array_split(rng.permutation(len(showers)), -(-len(showers) // batch_size)):
                # fresh dequantisation noise every time a shower is seen
                x = (shower_features(counts[batch], energies[batch], rng) - mean[batch]) / self.feature_std_
                x = torch.as_tensor(x, dtype=torch.float32)
                loss = -flow.log_prob(x, context[batch]).mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(flow.parameters(), 10.0)  # the odd bad batch early on
                optimizer.step()
                schedule.step()
                total += loss.item() * len(batch)
            history.append(total / len(showers))
        flow.eval()
        self.flow_ = flow
        self.training_ = {
            "n_showers": len(showers),
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "nll_per_epoch": history,
        }
        return self

    def _fit_point_sampler(self, showers: Showers, counts: np.ndarray, energies: np.ndarray) -> None:
        """Per layer: quantiles of the distance from the axis, spread of the point energies."""
        layer, radius = radial_distances_mm(showers, N_LAYERS)
        probabilities = np.linspace(0.0, 1.0, N_RADIAL_QUANTILES)
        pooled = np.quantile(radius, probabilities) if len(radius) else np.zeros(N_RADIAL_QUANTILES)
        table = np.empty((N_LAYERS, N_RADIAL_QUANTILES))
        for i in range(N_LAYERS):
            in_layer = radius[layer == i]
            # A layer with too few training points borrows the profile of all layers.
            table[i] = np.quantile(in_layer, probabilities) if len(in_layer) >= 20 else pooled
        self.radius_quantiles_mm_ = table

        # How a layer's energy is shared: log of each point's energy over its layer's mean.
        points, shower_index = showers.flat()
        point_energy = points[:, 3].astype(np.float64)
        layer_mean = (energies / np.maximum(counts, 1))[shower_index, layer]
        good = (point_energy > 0) & (layer_mean > 0)
        log_ratio = np.log(point_energy[good] / layer_mean[good])
        sigma = np.full(N_LAYERS, log_ratio.std() if good.any() else 0.0)
        for i in range(N_LAYERS):
            in_layer = log_ratio[layer[good] == i]
            if len(in_layer) >= 20:
                sigma[i] = in_layer.std()
        self.point_energy_sigma_ = sigma

    # ------------------------------------------------------------------ generation
    def _check_fitted(self) -> None:
        if self.flow_ is None:
            raise RuntimeError("this ToyFlow is not trained: call fit(showers) or load a saved one")

    def sample_layers(
        self, energy_gev: np.ndarray, direction: np.ndarray, rngs: list[np.random.Generator]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw per-layer point counts ``(B, 30)`` int64 and visible energies ``(B, 30)`` MeV.

        Shower ``i``'s latent noise is 60 standard normals from ``rngs[i]`` (never torch's global
        state: the same seed gives the same showers whatever else the program does with torch).
        """
        self._check_fitted()
        n = len(energy_gev)
        z = np.array([rng.standard_normal(2 * N_LAYERS) for rng in rngs], dtype=np.float32)
        x = self._flow_rows(z.reshape(n, 2 * N_LAYERS), conditioning(energy_gev, direction))
        mean = _rowwise_matmul(baseline_inputs(energy_gev, direction), self.feature_baseline_)
        x = x * self.feature_std_ + mean
        # A flow can throw a rare wild sample: cap the totals at twice the largest seen in
        # training (the layer shares are bounded anyway).
        x[:, TOTALS] = np.minimum(x[:, TOTALS], self.log_total_max_ + np.log(2.0))
        return layers_from_features(x)

    def _flow_rows(self, z: np.ndarray, context: torch.Tensor) -> np.ndarray:
        """The flow on ``(B, 60)`` latent rows.

        A CPU matrix product can round a row differently depending on how many rows it is given
        (a batch of 3 and a batch of 1000 give different last bits). With ``batch_invariant`` the
        rows go through the flow in blocks of :data:`FLOW_ROW_BLOCK` (the last one padded), one
        call per block of the same shape, so a shower does not change with the batch size; by
        default the whole batch is one call (faster; showers agree between batch sizes to the
        rounding).
        """
        n = len(z)
        z_rows = torch.as_tensor(z, dtype=torch.float32)
        c_rows = torch.as_tensor(context, dtype=torch.float32)
        with torch.no_grad():
            if not self.batch_invariant:
                return self.flow_(z_rows, c_rows).numpy().astype(np.float64)
            padded = -(-max(n, 1) // FLOW_ROW_BLOCK) * FLOW_ROW_BLOCK
            z_pad = torch.zeros(padded, z.shape[1], dtype=torch.float32)
            z_pad[:n] = z_rows
            c_pad = torch.zeros(padded, context.shape[1], dtype=torch.float32)
            c_pad[:, 3] = 1.0  # padding rows at normal incidence
            c_pad[:n] = c_rows
            blocks = [
                self.flow_(z_pad[i : i + FLOW_ROW_BLOCK], c_pad[i : i + FLOW_ROW_BLOCK])
                for i in range(0, padded, FLOW_ROW_BLOCK)
            ]
            return torch.cat(blocks)[:n].numpy().astype(np.float64)

    def radius_mm(self, layer: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Distances from the axis, mm: inverse-CDF sampling of each layer's fitted quantiles
        from ``u``, ``(M,)`` uniforms in ``[0, 1)``."""
        position = u * (N_RADIAL_QUANTILES - 1)
        low = np.minimum(position.astype(np.int64), N_RADIAL_QUANTILES - 2)
        frac = position - low
        table = self.radius_quantiles_mm_
        return table[layer, low] * (1.0 - frac) + table[layer, low + 1] * frac

    def generate(
        self, energy_gev: np.ndarray, direction: np.ndarray, pdg: np.ndarray, seeds: np.ndarray
    ) -> Showers:
        # Shower i's randomness comes from seeds[i] alone: first its latent noise, then its points.
        rngs = shower_rngs(seeds)
        counts, energies = self.sample_layers(energy_gev, direction, rngs)
        return build_showers(
            counts,
            energies,
            radius_mm=lambda shower, layer, u: self.radius_mm(layer, u[0]),
            point_energy_sigma=self.point_energy_sigma_,
            energy_gev=energy_gev,
            direction=direction,
            pdg=pdg,
            rngs=rngs,
        )

    # ------------------------------------------------------------------ save / load
    def get_config(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "hidden_features": self.hidden_features,
            "num_layers": self.num_layers,
            "num_blocks": self.num_blocks,
            "energy_range_gev": list(self.energy_range_gev),
            "max_angle_deg": self.max_angle_deg,
            "learned": {
                "feature_baseline": self.feature_baseline_.tolist(),
                "feature_std": self.feature_std_.tolist(),
                "log_total_max": self.log_total_max_.tolist(),
            },
            "training": self.training_,
        }

    def get_tensors(self) -> dict[str, Any]:
        self._check_fitted()
        # The MADE masks are buffers fixed by the architecture (rebuilt identically on load):
        # leaving them out halves the weights file.
        tensors = {f"flow.{k}": v for k, v in self.flow_.state_dict().items() if not k.endswith(".mask")}
        tensors["radius_quantiles_mm"] = self.radius_quantiles_mm_
        tensors["point_energy_sigma"] = self.point_energy_sigma_
        return tensors

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> ToyFlow:
        config = dict(config)
        learned = config.pop("learned")
        training = config.pop("training", {})
        model = cls(**config)
        flow = model._new_flow()
        state = {
            k.removeprefix("flow."): torch.tensor(v) for k, v in tensors.items() if k.startswith("flow.")
        }
        missing, unexpected = flow.load_state_dict(state, strict=False)
        if unexpected or any(not k.endswith(".mask") for k in missing):
            raise ValueError(
                f"saved toyflow weights do not fit its architecture: "
                f"missing {missing}, unexpected {unexpected}"
            )
        flow.eval()
        model.flow_ = flow
        model.feature_baseline_ = np.asarray(learned["feature_baseline"], dtype=np.float64)
        model.feature_std_ = np.asarray(learned["feature_std"], dtype=np.float64)
        model.log_total_max_ = np.asarray(learned["log_total_max"], dtype=np.float64)
        model.radius_quantiles_mm_ = np.asarray(tensors["radius_quantiles_mm"], dtype=np.float64)
        model.point_energy_sigma_ = np.asarray(tensors["point_energy_sigma"], dtype=np.float64)
        model.training_ = training
        return model


def load_pretrained(path: str | os.PathLike | None = None, batch_invariant: bool = False) -> ToyFlow:
    """Factory registered as ``toyflow``: the weights shipped in the package, or a saved folder.

    ``batch_invariant=True``: showers bit-identical for any batch size (the flow in fixed blocks).

    Raises:
        calozoo.ModelFolderError: ``path`` is not a saved toyflow (e.g. a toy-gamma folder).
    """
    model = ToyFlow.load(SHIPPED_WEIGHTS if path is None else path)
    model.batch_invariant = bool(batch_invariant)
    return model
