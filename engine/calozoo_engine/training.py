"""The three training stages of a flow + point-network model, each resumable from its last checkpoint.

What differs between the models — conditioning, flow targets, architecture, the model class —
comes in as the model's :class:`~.recipe.Recipe`; the stages themselves are shared.

A training run lives in one work folder::

    WORK/flow/       ShowerFlow             (negative log-likelihood)
    WORK/teacher/    the EDM point model    (denoising loss, EMA weights)
    WORK/distill/    the one-step student   (consistency distillation from the teacher's EMA)
    WORK/model/      the assembled model (after flow and distill; :meth:`.recipe.Recipe.build`)

Each stage folder holds ``checkpoint/`` (weights, EMA, optimizer moments and the step, as
safetensors + JSON, written atomically — no pickles) and ``log.jsonl`` (one line per logged
step: loss, learning rate, seconds). Running a stage again continues from its checkpoint up to
the requested number of steps. Randomness is derived from ``(seed, step)``, so a resumed run
draws the same batches and noise as an uninterrupted one.

Launched by ``torchrun`` (``WORLD_SIZE`` > 1), a stage trains data-parallel: process group
(gloo on the CPU, nccl on CUDA), the trained module in ``DistributedDataParallel``, and every
process takes its contiguous share of each step's global batch — the batch a single process
draws from ``(seed, step)`` — so the update is the single-process one up to the order of the
float reductions. Only rank 0 writes logs and checkpoints; the others wait at a barrier.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from calozoo.errors import ModelFolderError
from calozoo.serialization import CHECKPOINT_KIND, atomic_folder

from .data import TrainingSet, bucket_batches
from .features import PointScaler
from .pointnet import Denoiser, PointwiseNet, heun_step, karras_sigmas, masked_mean
from .recipe import Recipe

__all__ = [
    "FlowSettings",
    "TeacherSettings",
    "DistillSettings",
    "train_flow",
    "train_teacher",
    "train_distill",
    "assemble",
    "trained_parts",
]

STAGES = ("flow", "teacher", "distill")


# ------------------------------------------------------------------ settings
@dataclass
class FlowSettings:
    steps: int = 3000
    batch_size: int = 2048
    lr: float = 5e-4
    lr_final: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    validation_fraction: float = 0.05
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 200


@dataclass
class TeacherSettings:
    steps: int = 6000
    points_per_batch: int = 65536
    max_points: int | None = 1024
    lr: float = 1e-3
    lr_final: float = 1e-5
    grad_clip: float = 10.0
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    #: point network widths (``None``: the recipe's)
    widths: tuple[int, ...] | None = None


@dataclass
class DistillSettings:
    steps: int = 3000
    points_per_batch: int = 32768
    max_points: int | None = 1024
    lr: float = 1e-4
    lr_final: float = 1e-5
    grad_clip: float = 10.0
    target_ema: float = 0.95
    grid_steps: int = 20
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(
    folder: Path, tensors: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: dict
) -> None:
    """Weights, optimizer moments and JSON state into ``folder`` atomically (no pickles)."""
    opt = optimizer.state_dict()
    flat = {f"model.{k}": v.detach().cpu().contiguous() for k, v in tensors.items()}
    scalars: dict[str, Any] = {}
    for pid, slots in opt["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value) and value.dim() > 0:
                flat[f"optim.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = float(value)
    with atomic_folder(folder, kind=CHECKPOINT_KIND) as tmp:
        save_file(flat, str(tmp / "tensors.safetensors"))
        (tmp / "state.json").write_text(
            json.dumps(
                {"state": state, "optimizer_scalars": scalars, "param_groups": opt["param_groups"]}, indent=1
            )
        )


def load_checkpoint(
    folder: Path, optimizer: torch.optim.Optimizer | None = None
) -> tuple[dict[str, torch.Tensor], dict]:
    """Read what :func:`save_checkpoint` wrote; restores ``optimizer`` in place when given."""
    try:
        flat = load_file(str(folder / "tensors.safetensors"))
        meta = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise ModelFolderError(f"checkpoint {str(folder)!r} is unreadable or incomplete: {err}") from err
    tensors = {k[len("model.") :]: v for k, v in flat.items() if k.startswith("model.")}
    if optimizer is not None:
        state: dict[int, dict[str, Any]] = {}
        for key, value in flat.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        for key, value in meta["optimizer_scalars"].items():
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = torch.tensor(value)
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return tensors, meta["state"]


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


class _Log:
    """Appends one JSON line per logged step to ``log.jsonl``."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def _cosine(step: int, total: int, lr: float, lr_final: float) -> float:
    return lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _step_rng(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    ss = np.random.SeedSequence([seed, step])
    return np.random.default_rng(ss), torch.Generator().manual_seed(
        int(ss.generate_state(1, np.uint64)[0] >> 1)
    )


# ------------------------------------------------------------------ several processes
@dataclass(frozen=True)
class _Dist:
    """This process's place in a ``torchrun`` launch (``world == 1``: a plain single process)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    def share(self, n: int) -> slice:
        """This rank's contiguous slice of ``n`` global items."""
        return slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def total(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the ranks (a detached copy)."""
        value = value.detach().clone()
        if self.active:
            torch.distributed.all_reduce(value)
        return value


def _distributed(device: str) -> _Dist:
    """Join the ``torchrun`` process group when launched by it (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    return _Dist(torch.distributed.get_rank(), torch.distributed.get_world_size())


class _Calls(torch.nn.Module):
    """``forward`` of this module is ``method`` of ``module`` (what DDP wraps)."""

    def __init__(self, module: torch.nn.Module, method: str):
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args):
        return getattr(self.module, self.method)(*args)


def _parallel(module: torch.nn.Module, method: str, dist: _Dist, device: str) -> Callable:
    """``module.method``, gradient-averaged over the ranks by DDP when there are several."""
    if not dist.active:
        return getattr(module, method)
    ids = [torch.cuda.current_device()] if torch.device(device).type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(_Calls(module, method), device_ids=ids)


def _loop(
    stage: str,
    work: Path,
    settings: FlowSettings | TeacherSettings | DistillSettings,
    start: int,
    step_fn: Callable[[int, float], float],
    save_fn: Callable[[int], None],
    progress: bool,
    dist: _Dist = _Dist(),
) -> None:
    """Run ``step_fn(step, lr)`` from ``start`` to ``settings.steps`` (cosine learning rate from
    ``settings.lr`` to ``settings.lr_final``) with logging, progress and checkpoints (rank 0's)."""
    total_steps = settings.steps
    main = dist.rank == 0
    log = _Log(work / stage / "log.jsonl")
    running, t0 = None, time.perf_counter()
    bar = tqdm(total=total_steps, initial=start, desc=stage, unit="step", disable=not (progress and main))
    try:
        for step in range(start, total_steps):
            lr = _cosine(step, total_steps, settings.lr, settings.lr_final)
            loss = step_fn(step, lr)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"{stage}: loss became {loss} at step {step}; lower the learning rate"
                )
            running = loss if running is None else 0.98 * running + 0.02 * loss
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}")
            if main and ((step + 1) % settings.log_every == 0 or step + 1 == total_steps):
                log.write(
                    step=step + 1,
                    loss=loss,
                    loss_smooth=running,
                    lr=lr,
                    seconds=time.perf_counter() - t0,
                )
            if (step + 1) % settings.checkpoint_every == 0 or step + 1 == total_steps:
                if main:
                    save_fn(step + 1)
                dist.barrier()
    finally:
        bar.close()


def _resume(folder: Path, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor] | None, dict]:
    if (folder / "state.json").exists():
        return load_checkpoint(folder, optimizer)
    return None, {"step": 0}


# ------------------------------------------------------------------ flow
def _stored_state(folder: Path) -> dict:
    """The JSON state of a stage's checkpoint (``{}`` before its first checkpoint)."""
    path = folder / "state.json"
    return json.loads(path.read_text())["state"] if path.exists() else {}


def data_window(data) -> dict[str, Any]:
    """What a training set spans, saved with a model trained on it (``training["window"]``): its
    energies, particles (when known) and directions in the local frame (θ and φ ranges and the
    largest angle from the layer normal, degrees), so a model can accept what it was trained on."""
    from calozoo.conditions import angles_from_direction

    direction = np.asarray(data.direction, dtype=np.float64).reshape(-1, 3)
    theta, phi = angles_from_direction(direction)
    normal = np.degrees(np.arccos(np.clip(direction[:, 2], -1.0, 1.0)))
    window: dict[str, Any] = {
        "energy_gev": [float(np.min(data.energy_gev)), float(np.max(data.energy_gev))],
        "theta_deg": [float(theta.min()), float(theta.max())],
        "phi_deg": [float(phi.min()), float(phi.max())],
        "max_angle_deg": float(normal.max()),
    }
    if getattr(data, "particles", ()):
        window["pdg"] = [int(p) for p in data.particles]
    return window


def _stage_recipe(state: dict, recipe: Recipe) -> Recipe:
    """A resumed stage keeps the recipe (with its statistics) it started with."""
    return recipe.restore(state.get("recipe")) if state else recipe


def train_flow(
    data: TrainingSet,
    work: str | os.PathLike,
    settings: FlowSettings,
    *,
    recipe: Recipe,
    progress: bool = True,
    device: str = "cpu",
) -> Path:
    """Stage ``flow``: ShowerFlow by maximum likelihood on the recipe's targets."""
    from .flow import ShowerFlow

    work = Path(work)
    dist = _distributed(device)
    folder = work / "flow" / "checkpoint"
    train, val = data.split(settings.validation_fraction, settings.seed)
    stored = _stored_state(folder)
    recipe = _stage_recipe(stored, recipe)
    if not stored:  # a new run: the recipe's statistics come from this training split
        recipe = recipe.fit(train.summaries(recipe.n_layers))
    window = stored.get("window", data_window(data) if not stored else None)
    torch.manual_seed(settings.seed)
    flow = ShowerFlow(**recipe.flow_kwargs(), seed=settings.seed).to(device)
    optimizer = torch.optim.Adam(flow.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    tensors, state = _resume(folder, optimizer)
    if tensors is not None:
        flow.load_state_dict(_unprefixed("flow", tensors))

    def arrays(part: TrainingSet) -> tuple[torch.Tensor, ...]:
        return tuple(
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
            for a in (
                recipe.flow_targets(part.summaries(recipe.n_layers)),
                recipe.dequantisation(part.summaries(recipe.n_layers)),
                recipe.flow_context(part.energy_gev, part.direction),
            )
        )

    x_all, w_all, c_all = arrays(train)
    x_val, w_val, c_val = arrays(val)
    log_prob = _parallel(flow, "log_prob", dist, device)

    def step_fn(step: int, lr: float) -> float:
        rng, gen = _step_rng(settings.seed, step)
        idx = torch.from_numpy(rng.integers(0, len(x_all), settings.batch_size))
        x = flow.dequantise(x_all[idx], w_all[idx], gen).to(device)
        if not dist.active:
            loss = -flow.log_prob(x, c_all[idx].to(device)).mean()
            return _descend(optimizer, loss, lr, settings.grad_clip)
        # this rank's share of the global batch; DDP averages over ranks, hence the factor world
        part = dist.share(len(idx))
        total = -log_prob(x[part], c_all[idx[part]].to(device)).sum()
        _descend(optimizer, total * (dist.world / len(idx)), lr, settings.grad_clip)
        return float(dist.total(total)) / len(idx)

    def save_fn(step: int) -> None:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(settings.seed)
            val_nll = (
                float(-flow.log_prob(flow.dequantise(x_val, w_val, gen).to(device), c_val.to(device)).mean())
                if len(x_val)
                else float("nan")
            )
        _Log(work / "flow" / "log.jsonl").write(step=step, validation_nll=val_nll)
        save_checkpoint(
            folder,
            _prefixed("flow", flow),
            optimizer,
            {"step": step, "settings": asdict(settings), "recipe": recipe.to_dict()}
            | ({"window": window} if window is not None else {}),
        )

    _loop("flow", work, settings, state["step"], step_fn, save_fn, progress, dist)
    return folder


# ------------------------------------------------------------------ teacher
def _descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float, grad_clip: float) -> float:
    """One optimizer step on ``loss`` at learning rate ``lr``, gradients clipped to norm ``grad_clip``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    optimizer.step()
    return loss.item()


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1 - decay)


def _point_batch(
    data: TrainingSet, scaler: PointScaler, recipe: Recipe, settings, step: int, cache: dict, device: str
):
    """The size-bucketed batch of ``step`` on ``device`` (points, mask, conditioning) and its generator."""
    rng, gen = _step_rng(settings.seed, step)
    index = _epoch_batch(data, settings.seed, step, settings.points_per_batch, settings.max_points, cache)
    x, mask, cond = (t.to(device) for t in _batch(data, scaler, recipe, index, rng, settings.max_points))
    return x, mask, cond, gen


def _batch(
    data: TrainingSet,
    scaler: PointScaler,
    recipe: Recipe,
    index: np.ndarray,
    rng: np.random.Generator,
    max_points: int | None,
):
    points, mask = data.padded(index, rng, max_points)
    x = torch.from_numpy(scaler.normalise(points)) * torch.from_numpy(mask[..., None])
    # the conditioning sees the whole shower's size, also when a subset of its points is used
    cond = recipe.point_context(data.energy_gev[index], data.direction[index], data.num_points[index])
    return x, torch.from_numpy(mask), torch.from_numpy(np.asarray(cond, dtype=np.float32))


def _epoch_batch(
    data: TrainingSet, seed: int, step: int, points_per_batch: int, max_points: int | None, cache: dict
):
    """The batch of shower indices for ``step``: epochs of size-bucketed batches, reproducible."""
    while True:
        epoch, first = cache.get("epoch", (0, 0))
        batches = cache.get("batches")
        if batches is None:
            batches = bucket_batches(
                data.num_points, points_per_batch, np.random.default_rng([seed, 7, epoch]), max_points
            )
            cache["batches"] = batches
        if step - first < len(batches):
            return batches[step - first]
        cache["epoch"] = (epoch + 1, first + len(batches))
        cache["batches"] = None


def train_teacher(
    data: TrainingSet,
    work: str | os.PathLike,
    settings: TeacherSettings,
    *,
    recipe: Recipe,
    progress: bool = True,
    device: str = "cpu",
) -> Path:
    """Stage ``teacher``: the EDM point model, with an EMA copy used for sampling and distillation."""
    work = Path(work)
    dist = _distributed(device)
    folder = work / "teacher" / "checkpoint"
    stored = _stored_state(folder)
    recipe = _stage_recipe(stored, recipe)
    widths = tuple(stored.get("settings", {}).get("widths") or settings.widths or recipe.point_widths)
    settings.widths = widths
    torch.manual_seed(settings.seed)
    net = PointwiseNet(widths, recipe.point_context_features, seed=settings.seed).to(device)
    ema = PointwiseNet(widths, recipe.point_context_features, seed=settings.seed).to(device)
    ema.load_state_dict(net.state_dict())
    denoiser = Denoiser(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    tensors, state = _resume(folder, optimizer)
    if tensors is not None:
        net.load_state_dict(_unprefixed("net", tensors))
        ema.load_state_dict(_unprefixed("ema", tensors))
        scaler = PointScaler(tensors["scaler.mean"].numpy(), tensors["scaler.std"].numpy())
    else:
        scaler = PointScaler.fit(data.points[:: max(1, len(data.points) // 2_000_000)])
    cache: dict = {}
    net_forward = _parallel(net, "forward", dist, device)

    def step_fn(step: int, lr: float) -> float:
        x, mask, cond, gen = _point_batch(data, scaler, recipe, settings, step, cache, device)
        if not dist.active:
            loss = _descend(optimizer, denoiser.loss(x, cond, mask, gen), lr, settings.grad_clip)
        else:
            loss = _shared_edm_loss(denoiser, net_forward, x, cond, mask, gen, dist, lr, optimizer, settings)
        _ema_update(ema, net, min(0.9999, 1 - (1 + step) ** -0.667))
        return loss

    def save_fn(step: int) -> None:
        tensors = {**_prefixed("net", net), **_prefixed("ema", ema), **_scaler_tensors(scaler)}
        save_checkpoint(
            folder,
            tensors,
            optimizer,
            {"step": step, "settings": asdict(settings), "recipe": recipe.to_dict()},
        )

    _loop("teacher", work, settings, state["step"], step_fn, save_fn, progress, dist)
    return folder


def _shared_edm_loss(
    denoiser, net_forward, x, cond, mask, gen, dist: _Dist, lr, optimizer, settings
) -> float:
    """One step of :meth:`.pointnet.Denoiser.loss` on this rank's share of the global batch.

    The noise is drawn for the whole global batch (as one process does), then sliced; each
    rank's loss is its share of the global masked sum, times ``world`` (DDP averages).
    """
    sigma = torch.exp(-1.2 + 1.2 * torch.randn(len(x), generator=gen)).to(x.device)
    noise = torch.randn(x.shape, generator=gen).to(x.device)
    part = dist.share(len(x))
    x, sigma, noise, cond, mask = x[part], sigma[part], noise[part], cond[part], mask[part]
    noisy = x + sigma[:, None, None] * noise
    c_skip, c_out, c_in = denoiser.scalings(sigma)
    target = (x - c_skip * noisy) / c_out
    out = net_forward(c_in * noisy, torch.log(sigma) / 4, cond)
    return _shared_descend(((out - target) ** 2).mean(-1), mask, dist, lr, optimizer, settings)


def _shared_descend(values, mask, dist: _Dist, lr, optimizer, settings) -> float:
    """One optimizer step on this rank's share of a global masked mean of ``(B, N)`` ``values``.

    Each rank's loss is its share of the global masked sum over the global count, times
    ``world`` (DDP averages the gradients), so the step is the single-process one; the returned
    loss is the global masked mean.
    """
    m = mask.to(values.dtype)
    total = (values * m).sum()
    count = float(dist.total(m.sum()).clamp_min(1))
    _descend(optimizer, total * (dist.world / count), lr, settings.grad_clip)
    return float(dist.total(total)) / count


def _scaler_tensors(scaler: PointScaler) -> dict[str, torch.Tensor]:
    return {"scaler.mean": torch.tensor(scaler.mean), "scaler.std": torch.tensor(scaler.std)}


def load_teacher(work: str | os.PathLike, recipe: Recipe) -> tuple[PointwiseNet, PointScaler, dict]:
    """The teacher's EMA network and the point scaler from a work folder of ``recipe``'s model."""
    folder = Path(work) / "teacher" / "checkpoint"
    if not (folder / "state.json").exists():
        raise ModelFolderError(f"no teacher checkpoint in {str(folder)!r}: run the teacher stage first")
    tensors, state = load_checkpoint(folder)
    recipe = recipe.restore(state.get("recipe"))
    net = PointwiseNet(tuple(state["settings"]["widths"]), recipe.point_context_features)
    net.load_state_dict(_unprefixed("ema", tensors))
    return net, PointScaler(tensors["scaler.mean"].numpy(), tensors["scaler.std"].numpy()), state


# ------------------------------------------------------------------ distillation
def train_distill(
    data: TrainingSet,
    work: str | os.PathLike,
    settings: DistillSettings,
    *,
    recipe: Recipe,
    progress: bool = True,
    device: str = "cpu",
) -> Path:
    """Stage ``distill``: consistency distillation of the teacher's EMA into a one-step student.

    Student, target and teacher start from the teacher's EMA weights. Per shower an adjacent
    pair ``t_n > t_(n+1)`` of the Karras grid is drawn; ``x_t = x + t_n eps``; one Heun step of the
    teacher gives ``x`` at ``t_(n+1)``; the student at ``(x_t, t_n)`` is pulled towards the
    target network at ``(x_(n+1), t_(n+1))``; the target follows the student by EMA.

    Under ``torchrun`` every rank draws the whole global batch (showers, grid pairs, noise) and
    takes its share; the student is in DDP, and the target's EMA update (from the same student
    weights) keeps it identical on every rank.
    """
    work = Path(work)
    dist = _distributed(device)
    folder = work / "distill" / "checkpoint"
    teacher_net, scaler, teacher_state = load_teacher(work, recipe)
    recipe = recipe.restore(teacher_state.get("recipe"))
    teacher_net.to(device)
    widths = tuple(teacher_state["settings"]["widths"])
    teacher = Denoiser(teacher_net).requires_grad_(False)
    student_net = PointwiseNet(widths, recipe.point_context_features).to(device)
    target_net = PointwiseNet(widths, recipe.point_context_features).to(device)
    student_net.load_state_dict(teacher_net.state_dict())
    target_net.load_state_dict(teacher_net.state_dict())
    student = Denoiser(student_net, boundary=True)
    target = Denoiser(target_net, boundary=True).requires_grad_(False)
    optimizer = torch.optim.Adam(student_net.parameters(), lr=settings.lr)
    tensors, state = _resume(folder, optimizer)
    if tensors is not None:
        student_net.load_state_dict(_unprefixed("student", tensors))
        target_net.load_state_dict(_unprefixed("target", tensors))
    sigmas = karras_sigmas(settings.grid_steps)
    cache: dict = {}
    student_forward = _parallel(student, "forward", dist, device)

    def step_fn(step: int, lr: float) -> float:
        x, mask, cond, gen = _point_batch(data, scaler, recipe, settings, step, cache, device)
        n = torch.randint(0, settings.grid_steps - 1, (len(x),), generator=gen)
        t, t_next = sigmas[n].to(device), sigmas[n + 1].to(device)
        x_t = x + t[:, None, None] * torch.randn(x.shape, generator=gen).to(device)
        if dist.active:  # everything drawn for the global batch: now this rank's share
            part = dist.share(len(x))
            x_t, t, t_next, cond, mask = x_t[part], t[part], t_next[part], cond[part], mask[part]
        with torch.no_grad():
            x_next = heun_step(teacher, x_t, t, t_next, cond)
            aim = target(x_next, t_next, cond)
        if not dist.active:
            loss = _descend(
                optimizer,
                masked_mean(((student(x_t, t, cond) - aim) ** 2).mean(-1), mask),
                lr,
                settings.grad_clip,
            )
        else:
            values = ((student_forward(x_t, t, cond) - aim) ** 2).mean(-1)
            loss = _shared_descend(values, mask, dist, lr, optimizer, settings)
        _ema_update(target_net, student_net, settings.target_ema)
        return loss

    def save_fn(step: int) -> None:
        tensors = {
            **_prefixed("student", student_net),
            **_prefixed("target", target_net),
            **_scaler_tensors(scaler),
        }
        save_checkpoint(
            folder,
            tensors,
            optimizer,
            {"step": step, "settings": asdict(settings), "widths": list(widths), "recipe": recipe.to_dict()},
        )

    _loop("distill", work, settings, state["step"], step_fn, save_fn, progress, dist)
    return folder


# ------------------------------------------------------------------ assembling
def trained_parts(work: str | os.PathLike, recipe: Recipe, point_model: Any = None) -> dict[str, Any]:
    """The trained pieces of a work folder: recipe, flow, one-step net, point scaler, provenance.

    With ``point_model`` (a saved model of the same kind) its point network and scaler are used
    instead of the work folder's distill stage: a newly trained flow with a trained point network.
    """
    from .flow import ShowerFlow

    work = Path(work)
    for stage in ("flow",) if point_model is not None else ("flow", "distill"):
        if not (work / stage / "checkpoint" / "state.json").exists():
            raise ModelFolderError(
                f"no {stage} checkpoint in {str(work / stage)!r}: run the {stage} stage first"
            )
    flow_tensors, flow_state = load_checkpoint(work / "flow" / "checkpoint")
    recipe = recipe.restore(flow_state.get("recipe"))
    flow = ShowerFlow(**recipe.flow_kwargs(), seed=flow_state["settings"]["seed"])
    flow.load_state_dict(_unprefixed("flow", flow_tensors))
    training = {"flow": {"steps": flow_state["step"], **_last_losses(work / "flow" / "log.jsonl")}}
    if "window" in flow_state:  # what the flow was trained on (flow checkpoints since it was saved)
        training["window"] = flow_state["window"]
    if point_model is not None:
        if getattr(point_model, "name", None) != recipe.name:
            raise ModelFolderError(f"the point network must come from a {recipe.name} model")
        net, scaler = point_model.net, point_model.scaler
        for stage in ("teacher", "distill"):  # the point network's own provenance
            if stage in point_model.training:
                training[stage] = point_model.training[stage]
        return {"recipe": recipe, "flow": flow, "net": net, "scaler": scaler, "training": training}
    distill_tensors, distill_state = load_checkpoint(work / "distill" / "checkpoint")
    net = PointwiseNet(tuple(distill_state["widths"]), recipe.point_context_features)
    net.load_state_dict(_unprefixed("student", distill_tensors))
    scaler = PointScaler(distill_tensors["scaler.mean"].numpy(), distill_tensors["scaler.std"].numpy())
    teacher = work / "teacher" / "checkpoint"
    training["teacher"] = {"steps": load_checkpoint(teacher)[1]["step"]} if teacher.exists() else {}
    training["distill"] = {"steps": distill_state["step"], **_last_losses(work / "distill" / "log.jsonl")}
    return {"recipe": recipe, "flow": flow, "net": net, "scaler": scaler, "training": training}


def assemble(
    work: str | os.PathLike, recipe: Recipe, output: str | os.PathLike | None = None, point_model: Any = None
) -> Path:
    """Build the model folder from the flow and distill checkpoints of ``work``.

    The model is :meth:`recipe.build <.recipe.Recipe.build>` of the trained parts, uncalibrated
    until a calibrator is fitted. ``point_model``: take the point network from this model
    instead (:func:`trained_parts`).
    """
    work = Path(work)
    output = work / "model" if output is None else Path(output)
    parts = trained_parts(work, recipe, point_model)
    recipe = parts.pop("recipe")
    recipe.build(**parts).save(output)
    return output


def _last_losses(log: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            record = json.loads(line)
            for key in ("loss_smooth", "validation_nll"):
                if key in record:
                    out[key] = record[key]
    return out
