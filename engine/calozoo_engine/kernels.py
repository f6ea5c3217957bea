"""One shower's context-only work compiled (numba): ShowerFlow's sampling pass and the point
network's folded weights, each in one call.

**The flow** (:class:`FlowProgram`, :func:`forward_one`). At batch 1 (one shower per call, as
inside a simulation) the flow is bound by streaming its weights once (about 23 MB for
CaloClouds3's 5.8 M parameters), but through torch it is a chain of some 600 small operations,
each a dispatch and a pass over a few dozen numbers: the couplings' slices, concatenations and
activations, the splines' softmaxes, cumulative sums, searches and gathers. Here the whole
forward pass (latent to targets) is one compiled function over the modules' own weights (read
where torch keeps them, nothing copied): each matrix-vector product streams its matrix once, and
everything between them is a loop over the row's 60 numbers.

Numbers: the products accumulate in float32 in an order of the compiler's choosing (as BLAS does,
vectorised), the splines and couplings are evaluated in float64 and stored in float32; the result
is the eager pass's to float32 rounding, not bit for bit (:class:`~.flow.ShowerFlow` checks it
against eager before it uses it). Only the sampling direction is here (no log-determinant): the
likelihood and training stay in torch.

**The point network's modulations** (:class:`FoldProgram`, :func:`fold_one`). Each of
:class:`~.pointnet.PointwiseNet`'s layers is gated and shifted by the shower's context (the time
embedding and the conditions); folded into the layer, ``(g W) h + (g b + H c)``, it is one matrix
product per shower. Computing the gates and folding them is some 50 torch operations on a few
hundred numbers (about 0.75 ms a shower); here it is one call (tens of microseconds) writing the
folded weights and biases of all layers, the same numbers to float32 rounding.

The first call in a fresh environment compiles this module (a few seconds); numba caches it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from normflows.utils.splines import DEFAULT_MIN_BIN_HEIGHT, DEFAULT_MIN_BIN_WIDTH, DEFAULT_MIN_DERIVATIVE
from numba import carray, njit, types
from numba.extending import intrinsic

__all__ = ["COUPLING", "PERMUTE", "SPLINE", "FlowProgram", "forward_one", "FoldProgram", "fold_one"]

#: The kinds of step a :class:`FlowProgram` holds.
COUPLING, PERMUTE, SPLINE = 0, 1, 2


def _pointer_to(item):
    @intrinsic
    def pointer(typingctx, address):
        """The integer ``address`` as a pointer to ``item`` values (for :func:`numba.carray`)."""
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return types.CPointer(item)(address), codegen

    return pointer


_float32_at = _pointer_to(types.float32)
_int64_at = _pointer_to(types.int64)


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _affine(weight, bias, x, out, relu):
    """``out = weight @ x + bias`` (``max(., 0)`` with ``relu``), float32, one pass over ``weight``.

    Reassociation lets the compiler vectorise each row's sum (the only fast-math here)."""
    n_out, n_in = weight.shape
    for o in range(n_out):
        acc = np.float32(0.0)
        for i in range(n_in):
            acc += weight[o, i] * x[i]
        value = acc + bias[o]
        out[o] = max(value, np.float32(0.0)) if relu else value


@njit(cache=True)
def _mlp(layers, first, count, x):
    """The step's ``count`` linear layers (rows of ``layers``: weight and bias addresses, rows,
    columns) from ``first`` on, ReLU between them, applied to ``x``."""
    h = x
    for layer in range(first, first + count):
        rows, columns = layers[layer, 2], layers[layer, 3]
        weight = carray(_float32_at(layers[layer, 0]), (rows, columns))
        bias = carray(_float32_at(layers[layer, 1]), (rows,))
        out = np.empty(rows, dtype=np.float32)
        _affine(weight, bias, h, out, layer < first + count - 1)
        h = out
    return h


@njit(cache=True)
def _coupling(z, context, layers, first, count, n_pass):
    """:class:`~.flow.TanhAffineCoupling` forward: ``z[n_pass:] = z[n_pass:] exp(-tanh(r)) + m``."""
    inputs = np.empty(n_pass + context.shape[0], dtype=np.float32)
    inputs[:n_pass] = z[:n_pass]
    inputs[n_pass:] = context
    out = _mlp(layers, first, count, inputs)
    n_out = z.shape[0] - n_pass
    for j in range(n_out):
        log_scale = -math.tanh(np.float64(out[n_out + j]))
        z[n_pass + j] = np.float64(z[n_pass + j]) * math.exp(log_scale) + np.float64(out[j])


@njit(cache=True)
def _softplus(x):
    # torch's softplus (beta 1, threshold 20)
    return x if x > 20.0 else math.log1p(math.exp(x))


@njit(cache=True)
def _knots(raw, bins, low, high, min_size, out):
    """normflows' knot positions: ``min_size + (1 - bins min_size) softmax(raw)``, summed, scaled
    to ``[low, high]``, the ends set exactly; ``out`` gets the ``bins + 1`` knots."""
    top = raw[0]
    for k in range(1, bins):
        top = max(top, raw[k])
    total = 0.0
    for k in range(bins):
        total += math.exp(np.float64(raw[k]) - top)
    running = 0.0
    out[0] = low
    for k in range(bins):
        running += min_size + (1.0 - min_size * bins) * (math.exp(np.float64(raw[k]) - top) / total)
        out[k + 1] = (high - low) * running + low
    out[bins] = high


@njit(cache=True)
def _spline(z, context, layers, first, count, bins, bound, min_width, min_height, min_derivative):
    """:class:`~.flow.ContextSpline` forward: normflows' rational-quadratic spline on ``[-bound,
    bound]`` with linear tails (identity outside), its knots from the context's network."""
    params = _mlp(layers, first, count, context.astype(np.float32))
    per = 3 * bins - 1
    xs = np.empty(bins + 1)
    ys = np.empty(bins + 1)
    slopes = np.empty(bins + 1)
    for f in range(z.shape[0]):
        x = np.float64(z[f])
        if x < -bound or x > bound:
            continue
        row = params[f * per : (f + 1) * per]
        _knots(row[:bins], bins, -bound, bound, min_width, xs)
        _knots(row[bins : 2 * bins], bins, -bound, bound, min_height, ys)
        slopes[0] = 1.0  # the linear tails' slope, which the end derivatives continue
        slopes[bins] = 1.0
        for k in range(1, bins):
            slopes[k] = min_derivative + _softplus(np.float64(row[2 * bins + k - 1]))
        # normflows' search: the last knot nudged up by 1e-6 so that x = bound falls in the last bin
        k = 0
        while k < bins - 1 and x >= xs[k + 1]:
            k += 1
        width = xs[k + 1] - xs[k]
        height = ys[k + 1] - ys[k]
        delta = height / width
        theta = (x - xs[k]) / width
        between = theta * (1.0 - theta)
        numerator = height * (delta * theta * theta + slopes[k] * between)
        denominator = delta + (slopes[k] + slopes[k + 1] - 2.0 * delta) * between
        z[f] = ys[k] + numerator / denominator


@njit(cache=True)
def forward_one(z, context, steps, bounds, layers, permutations, limits):
    """One row through the flow's steps, latent ``z`` ``(D,)`` to targets ``(D,)`` (float32).

    Row ``s`` of ``steps`` is a step's kind, first layer or permutation, layer count, coordinates
    passed and bins: a coupling (rows ``first`` to ``first + count`` of ``layers``), a permutation
    (row ``first`` of ``permutations``: address and length) or a spline (its network's layers as
    a coupling's; ``bounds[s]``); ``limits``: normflows' minimum bin width, height and derivative.
    """
    x = z.copy()
    for s in range(steps.shape[0]):
        kind, first, count, n_pass, bins = steps[s, 0], steps[s, 1], steps[s, 2], steps[s, 3], steps[s, 4]
        if kind == COUPLING:
            _coupling(x, context, layers, first, count, n_pass)
        elif kind == PERMUTE:
            x = x[carray(_int64_at(permutations[first, 0]), (permutations[first, 1],))]
        else:
            _spline(x, context, layers, first, count, bins, bounds[s], limits[0], limits[1], limits[2])
    return x


_data_ptr = torch.Tensor.data_ptr


class _Program:
    """What a program reads: tensors (kept, so their storage lives) and their data pointers."""

    def __init__(self, tensors):
        self.tensors = tensors
        self.pointers = list(map(_data_ptr, tensors))

    def current(self) -> bool:
        """Whether every tensor read still has the storage it had when the program was made."""
        return list(map(_data_ptr, self.tensors)) == self.pointers

    def _check_current(self) -> None:
        if not self.current():
            raise RuntimeError(f"tensors moved since this {type(self).__name__} was made: make it again")


def _readable(tensor, dtype=torch.float32) -> bool:
    return tensor.dtype == dtype and tensor.device.type == "cpu" and tensor.is_contiguous()


class FlowProgram(_Program):
    """A flow's steps as tables for :func:`forward_one`, over its own weights where torch keeps them.

    Build with :meth:`of`, which returns ``None`` for a flow it cannot run (a step of another
    kind, weights not float32 or not contiguous on the CPU): the caller keeps torch then. The
    program holds every tensor it reads; a tensor given new storage (``.data = ...``) makes it
    stale (:meth:`current`), and a stale program refuses to run.
    """

    def __init__(self, steps, bounds, layers, permutations, tensors):
        super().__init__(tensors)
        self.steps, self.bounds, self.layers, self.permutations = steps, bounds, layers, permutations
        self.limits = np.array([DEFAULT_MIN_BIN_WIDTH, DEFAULT_MIN_BIN_HEIGHT, DEFAULT_MIN_DERIVATIVE])

    def __call__(self, z: np.ndarray, context: np.ndarray) -> np.ndarray:
        """Targets ``(D,)`` float32 for one latent row ``z`` ``(D,)`` and its context ``(C,)``."""
        self._check_current()
        z = np.ascontiguousarray(z, dtype=np.float32)
        context = np.ascontiguousarray(context, dtype=np.float32)
        return forward_one(z, context, self.steps, self.bounds, self.layers, self.permutations, self.limits)

    @classmethod
    def of(cls, flows) -> FlowProgram | None:
        """The program of normflows steps ``flows`` (:class:`~.flow.TanhAffineCoupling`,
        :class:`~.flow.ContextSpline`, ``normflows.flows.Permute`` in shuffle mode), or ``None``."""
        import normflows as nf

        from .flow import ContextSpline, TanhAffineCoupling

        steps, bounds, layers, permutations, tensors = [], [], [], [], []

        def read(tensor, dtype=torch.float32) -> bool:
            if not _readable(tensor, dtype):
                return False
            tensors.append(tensor)
            return True

        def network(net) -> tuple[int, int] | None:
            """The (first, count) of a ``Linear, ReLU, ..., Linear`` network's layers."""
            modules = list(net)
            linears = modules[0::2]
            if len(modules) % 2 == 0 or not all(isinstance(m, torch.nn.ReLU) for m in modules[1::2]):
                return None
            first = len(layers)
            for linear in linears:
                if not isinstance(linear, torch.nn.Linear) or linear.bias is None:
                    return None
                if not (read(linear.weight) and read(linear.bias)):
                    return None
                rows, columns = linear.weight.shape
                layers.append((linear.weight.data_ptr(), linear.bias.data_ptr(), rows, columns))
            return first, len(linears)

        for step in flows:
            if type(step) is TanhAffineCoupling or type(step) is ContextSpline:
                span = network(step.net)
                if span is None:
                    return None
                if type(step) is TanhAffineCoupling:
                    steps.append((COUPLING, *span, step.n_pass, 0))
                    bounds.append(0.0)
                else:
                    steps.append((SPLINE, *span, 0, step.bins))
                    bounds.append(float(step.tail_bound))
            elif type(step) is nf.flows.Permute and step.mode == "shuffle":
                if not read(step.perm, torch.int64):
                    return None
                steps.append((PERMUTE, len(permutations), 0, 0, 0))
                bounds.append(0.0)
                permutations.append((step.perm.data_ptr(), len(step.perm)))
            else:
                return None
        if len(steps) == 0:
            return None
        table = lambda rows, width: np.asarray(rows, dtype=np.int64).reshape(-1, width)  # noqa: E731
        return cls(table(steps, 5), np.asarray(bounds), table(layers, 4), table(permutations, 2), tensors)


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _dot(weight, row, x):
    """``weight[row] @ x`` in float64 (a short row: a context of some 70 numbers), vectorised."""
    acc = 0.0
    for i in range(x.shape[0]):
        acc += np.float64(weight[row, i]) * x[i]
    return acc


@njit(cache=True)
def fold_one(c_noise, condition, embed, layers, out):
    """One shower's folded point-network weights into ``out`` (float32, every layer's ``(out, in)``
    weight then its bias, layer after layer).

    ``embed``: the Fourier frequencies' address and count, the embedding layer's weight and bias
    addresses and width; ``layers`` row ``k``: addresses of layer ``k``'s gate weight and bias,
    context-bias weight, weight and bias, then its output and input widths. The context is
    ``[leaky_relu(E [cos 2 pi w t, sin 2 pi w t] + e), condition]``, layer ``k``'s gate
    ``sigmoid(G c + g)`` and shift ``H c``; folded: ``(gate W, gate b + H c)``.
    """
    n_freq, width = embed[1], embed[4]
    freqs = carray(_float32_at(embed[0]), (n_freq,))
    features = np.empty(2 * n_freq)
    for k in range(n_freq):
        angle = 2.0 * math.pi * c_noise * np.float64(freqs[k])
        features[k] = math.cos(angle)
        features[n_freq + k] = math.sin(angle)
    embed_weight = carray(_float32_at(embed[2]), (width, 2 * n_freq))
    embed_bias = carray(_float32_at(embed[3]), (width,))
    context = np.empty(width + condition.shape[0])
    for o in range(width):
        value = _dot(embed_weight, o, features) + np.float64(embed_bias[o])
        context[o] = value if value >= 0.0 else 0.01 * value
    for c in range(condition.shape[0]):
        context[width + c] = np.float64(condition[c])
    n_context = context.shape[0]
    at = 0
    for k in range(layers.shape[0]):
        rows, columns = layers[k, 5], layers[k, 6]
        gate_weight = carray(_float32_at(layers[k, 0]), (rows, n_context))
        gate_bias = carray(_float32_at(layers[k, 1]), (rows,))
        shift_weight = carray(_float32_at(layers[k, 2]), (rows, n_context))
        weight = carray(_float32_at(layers[k, 3]), (rows, columns))
        bias = carray(_float32_at(layers[k, 4]), (rows,))
        for o in range(rows):
            # the gate and the shift in float64, then torch's float32 products and sum
            gate = np.float32(
                1.0 / (1.0 + math.exp(-(_dot(gate_weight, o, context) + np.float64(gate_bias[o]))))
            )
            for i in range(columns):
                out[at + o * columns + i] = gate * weight[o, i]
            out[at + rows * columns + o] = gate * bias[o] + np.float32(_dot(shift_weight, o, context))
        at += rows * columns + rows


class FoldProgram(_Program):
    """A :class:`~.pointnet.PointwiseNet`'s modulations as tables for :func:`fold_one`.

    Build with :meth:`of` (``None`` for a network it cannot read); calling it gives the showers'
    folded weights and biases, each shower computed on its own (:func:`fold_one`).
    """

    def __init__(self, embed, layers, shapes, tensors):
        super().__init__(tensors)
        self.embed, self.layers, self.shapes = embed, layers, shapes
        self.size = sum(rows * columns + rows for rows, columns in shapes)

    def __call__(self, c_noise, conditions: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each layer's folded ``(B, out, in)`` weights and ``(B, out)`` biases (float32) for
        noise inputs ``c_noise`` ``(B,)`` and conditions ``(B, C)``, every row on its own."""
        self._check_current()
        conditions = np.ascontiguousarray(conditions, dtype=np.float32)
        noise = np.asarray(c_noise, dtype=np.float64)
        out = np.empty((len(conditions), self.size), dtype=np.float32)
        for b in range(len(conditions)):
            fold_one(float(noise[b]), conditions[b], self.embed, self.layers, out[b])
        parts, at = [], 0
        for rows, columns in self.shapes:
            weight = out[:, at : at + rows * columns].reshape(-1, rows, columns)
            parts.append((weight, out[:, at + rows * columns : at + rows * columns + rows]))
            at += rows * columns + rows
        return parts

    @classmethod
    def of(cls, net) -> FoldProgram | None:
        fourier, linear, act = net.timestep_embed
        if not (isinstance(linear, torch.nn.Linear) and isinstance(act, torch.nn.LeakyReLU)):
            return None
        if act.negative_slope != 0.01 or fourier.weight.shape[1:] != (1,):
            return None
        tensors = [fourier.weight, linear.weight, linear.bias]
        embed = [fourier.weight.data_ptr(), fourier.weight.shape[0]]
        embed += [linear.weight.data_ptr(), linear.bias.data_ptr(), linear.weight.shape[0]]
        layers, shapes = [], []
        for layer in net.layers:
            parts = (layer._hyper_gate.weight, layer._hyper_gate.bias, layer._hyper_bias.weight)
            parts += (layer._layer.weight, layer._layer.bias)
            if any(part is None for part in parts):
                return None
            tensors += parts
            rows, columns = layer._layer.weight.shape
            layers.append([part.data_ptr() for part in parts] + [rows, columns])
            shapes.append((int(rows), int(columns)))
        if not all(_readable(t) for t in tensors):
            return None
        table = np.asarray(layers, dtype=np.int64).reshape(-1, 7)
        return cls(np.asarray(embed, dtype=np.int64), table, shapes, tensors)
