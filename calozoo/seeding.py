"""One seeding convention for everything random in calozoo: a stream of its own per shower.

Shower ``i`` of a job seeded with ``seed`` draws from child ``i`` of
``numpy.random.SeedSequence(seed)`` — whatever the batch size, the shard size, the number of
workers or the order the batches run in. So the same seed gives the same showers, and the first
``n`` showers of a longer job are the showers of a job of ``n``.

A model's :meth:`~calozoo.ShowerModel.generate` receives the ``(B,)`` seeds of its batch
(:func:`shower_seeds`) and turns them into generators: :func:`shower_rngs` for numpy, or one
``torch.Generator().manual_seed(int(s))`` per shower.

>>> a = shower_seeds(7, 5)
>>> b = shower_seeds(7, 3, start=2)
>>> bool((a[2:] == b).all())
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["root_sequence", "shower_seeds", "shower_rngs", "shower_sequence"]


def root_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """The job's root sequence; ``None`` draws fresh entropy (then the job is not reproducible)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return np.random.SeedSequence(None if seed is None else int(seed))


def shower_sequence(root: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """Child ``index`` of ``root`` (what ``root.spawn`` would hand out ``index``-th, without spawning)."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(index)))


def shower_seeds(seed: int | np.random.SeedSequence | None, n: int, start: int = 0) -> np.ndarray:
    """``(n,)`` uint64 seeds of showers ``start .. start + n - 1`` of the job seeded with ``seed``."""
    root = root_sequence(seed)
    out = np.empty(int(n), np.uint64)
    for k in range(int(n)):
        out[k] = shower_sequence(root, start + k).generate_state(1, np.uint64)[0]
    return out


def shower_rngs(seeds) -> list[np.random.Generator]:
    """One numpy generator per shower seed."""
    return [np.random.default_rng(int(s)) for s in np.asarray(seeds, dtype=np.uint64).reshape(-1)]
