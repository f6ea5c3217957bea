"""One seeding convention for everything random in calozoo: a stream of its own per shower.

Shower ``i`` of a job seeded with ``seed`` draws from child ``i`` of
``numpy.random.SeedSequence(seed)`` — whatever the batch size, the shard size, the number of
workers or the order the batches run in. So the same seed gives the same showers, and the first
``n`` showers of a longer job are the showers of a job of ``n``. Every step follows it:

- **The model** (:meth:`~calozoo.ShowerModel.sample`, ``calozoo generate``, ``calozoo simulate``):
  :meth:`~calozoo.ShowerModel.generate` receives the ``(B,)`` uint64 seeds of its batch,
  ``shower_seeds(seed, B, start=batch_start)`` (child ``i``'s first 64-bit word), and turns them
  into generators: :func:`shower_rngs` for numpy, or one ``torch.Generator().manual_seed(int(s))``
  per shower. Shower ``i``'s randomness comes from ``seeds[i]`` alone; a model that needs several
  independent streams per shower takes them from :func:`sub_seeds`.
- **Drawn conditions** (``--energy 10:100``, ``--energy log:1:127``, ``--directions barrel-ip``,
  the presets of ``calozoo simulate``): shower ``i``'s come from child ``0`` of child ``i``
  (:func:`condition_rngs`), a stream distinct from the model's: one energy draw first (also when
  the energies are fixed and a distribution of directions is drawn, so the directions do not
  depend on how the energies are given), then its direction.
- **Preprocessing** (:func:`calozoo.preprocessing.preprocess` with ``seed``): shower ``i`` draws
  from ``numpy.random.default_rng`` of child ``i`` itself (:func:`sequence_rngs`); given
  per-shower ``seeds`` instead, from ``shower_rngs(seeds)``.

``seed=None`` draws one fresh root for the whole call (then the job is not reproducible).

>>> a = shower_seeds(7, 5)
>>> b = shower_seeds(7, 3, start=2)
>>> bool((a[2:] == b).all())
True
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "root_sequence",
    "shower_seeds",
    "shower_rngs",
    "shower_sequence",
    "sequence_rngs",
    "condition_rngs",
    "sub_seeds",
    "CONDITIONS_KEY",
]

#: Shower ``i``'s drawn conditions come from child ``CONDITIONS_KEY`` of its sequence.
CONDITIONS_KEY = 0


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


def sequence_rngs(
    seed: int | np.random.SeedSequence | None, n: int, start: int = 0
) -> list[np.random.Generator]:
    """Generators of showers ``start .. start + n - 1`` seeded with their child sequences themselves
    (``default_rng(shower_sequence(root, i))``: what :func:`calozoo.preprocessing.preprocess` uses)."""
    root = root_sequence(seed)
    return [np.random.default_rng(shower_sequence(root, start + k)) for k in range(int(n))]


def condition_rngs(
    seed: int | np.random.SeedSequence | None, n: int, start: int = 0
) -> list[np.random.Generator]:
    """Generators of the drawn conditions of showers ``start .. start + n - 1``: child
    :data:`CONDITIONS_KEY` of each shower's child sequence, independent of its model seed."""
    root = root_sequence(seed)
    return [
        np.random.default_rng(
            np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, start + k, CONDITIONS_KEY))
        )
        for k in range(int(n))
    ]


def sub_seeds(seeds, key: int, dtype=np.uint64) -> np.ndarray:
    """``(B,)`` seeds of independent stream ``key`` of each shower seed (child ``key`` of
    ``SeedSequence(seeds[i])``), for a model that needs several streams per shower.

    >>> s = shower_seeds(1, 2)
    >>> bool((sub_seeds(s, 0) != sub_seeds(s, 1)).all())
    True
    """
    seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
    out = np.empty(len(seeds), dtype)
    for k, s in enumerate(seeds):
        out[k] = np.random.SeedSequence(int(s), spawn_key=(int(key),)).generate_state(1, dtype)[0]
    return out
