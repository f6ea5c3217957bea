"""Fingerprints for the reference MC's regression tests.

A stored SHA-256 of the showers' bytes changes with the CPU: numba compiles the transport for the
machine it runs on, and its vector maths rounds differently on AVX2 and AVX-512 (about 1e-16
relative, far below anything physical). The regression tests store what does not depend on that:
every shower's number of hits exactly, and its energy sums and energy-weighted centre to a
relative 1e-6 (a change of physics moves them by far more, or changes the hit counts).
"""

from __future__ import annotations

import numpy as np
import pytest


def shower_fingerprint(hits, tallies) -> tuple[list[int], np.ndarray]:
    """Hit counts and, per shower: deposited energy, its centre (x, y, z) and mean layer, then the
    tallies; ``hits`` rows are ``(x, y, z, e, layer)``."""
    rows = []
    for h, t in zip(hits, np.asarray(tallies)):
        e = h[:, 3]
        total = e.sum()
        centre = (h[:, [0, 1, 2, 4]] * e[:, None]).sum(0) / max(total, 1e-300)
        rows.append(np.concatenate([[total], centre, np.ravel(t)]))
    return [len(h) for h in hits], np.array(rows)


def table_fingerprint(table) -> np.ndarray:
    """Sum, sum of squares and sum of absolute values of a table's finite entries, and its count
    of non-finite ones."""
    t = np.asarray(table, dtype=np.float64)
    finite = t[np.isfinite(t)]
    return np.array([finite.sum(), (finite**2).sum(), np.abs(finite).sum(), t.size - finite.size])


class Fingerprints:
    shower = staticmethod(shower_fingerprint)
    table = staticmethod(table_fingerprint)

    @staticmethod
    def assert_showers(hits, tallies, counts, summary, rtol=1e-6):
        got_counts, got = shower_fingerprint(hits, tallies)
        assert got_counts == counts
        np.testing.assert_allclose(got, np.asarray(summary), rtol=rtol, atol=1e-9)


@pytest.fixture
def fingerprints() -> type[Fingerprints]:
    return Fingerprints
