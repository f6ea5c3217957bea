"""ShowerFlow's one-row sampling pass compiled (numba): every layer of the flow in one call.

At batch 1 (one shower per call, as inside a simulation) the flow is bound by streaming its
weights once (about 23 MB for CaloClouds3's 5.8 M parameters), but through torch it is a chain of
some 600 small operations, each a dispatch and a pass over a few dozen numbers: the couplings'
slices, concatenations and activations, the splines' softmaxes, cumulative sums, searches and
gathers. Here the whole forward pass (latent to targets) is one compiled function over the
modules' own weights (read where torch keeps them, nothing copied): each matrix-vector product
streams its matrix once, and everything between them is a loop over the row's 60 numbers.

Numbers: the products accumulate in float32 in an order of the compiler's choosing (as BLAS does,
vectorised), the splines and couplings are evaluated in float64 and stored in float32; the result
is the eager pass's to float32 rounding, not bit for bit (:class:`~.flow.ShowerFlow` checks it
against eager before it uses it). Only the sampling direction is here (no log-determinant): the
likelihood and training stay in torch.

The first call in a fresh environment compiles this module (a few seconds); numba caches it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from normflows.utils.splines import DEFAULT_MIN_BIN_HEIGHT, DEFAULT_MIN_BIN_WIDTH, DEFAULT_MIN_DERIVATIVE
from numba import carray, njit, types
from numba.extending import intrinsic

__all__ = ["COUPLING", "PERMUTE", "SPLINE", "FlowProgram", "forward_one"]

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


class FlowProgram:
    """A flow's steps as tables for :func:`forward_one`, over its own weights where torch keeps them.

    Build with :meth:`of`, which returns ``None`` for a flow it cannot run (a step of another
    kind, weights not float32 or not contiguous on the CPU): the caller keeps torch then. The
    program holds every tensor it reads; a tensor given new storage (``.data = ...``) makes it
    stale (:meth:`current`), and a stale program refuses to run.
    """

    def __init__(self, steps, bounds, layers, permutations, tensors):
        self.steps, self.bounds, self.layers, self.permutations = steps, bounds, layers, permutations
        self.limits = np.array([DEFAULT_MIN_BIN_WIDTH, DEFAULT_MIN_BIN_HEIGHT, DEFAULT_MIN_DERIVATIVE])
        self.tensors = tensors
        self.pointers = list(map(_data_ptr, tensors))

    def current(self) -> bool:
        """Whether every tensor read still has the storage it had when the program was made."""
        return list(map(_data_ptr, self.tensors)) == self.pointers

    def __call__(self, z: np.ndarray, context: np.ndarray) -> np.ndarray:
        """Targets ``(D,)`` float32 for one latent row ``z`` ``(D,)`` and its context ``(C,)``."""
        if not self.current():
            raise RuntimeError("the flow's tensors moved since this FlowProgram was made: make it again")
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
            if tensor.dtype != dtype or tensor.device.type != "cpu" or not tensor.is_contiguous():
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
