"""The assembly chain's depth sort: one sort, the same order as two stable sorts."""

from __future__ import annotations

import pytest
import torch
from calozoo_engine.points import depth_order


def two_stable_sorts(z: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(z, stable=True)
    return order[torch.argsort(owner[order], stable=True)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_depth_order_is_the_two_sorts_order_element_for_element(dtype):
    gen = torch.Generator().manual_seed(0)
    for trial in range(60):
        n = int(torch.randint(1, 3000, (1,), generator=gen))
        showers = int(torch.randint(1, 12, (1,), generator=gen))
        z = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype) * 3
        if trial % 3 == 0:
            z = torch.round(z * 2) / 2  # many exact ties
        if trial % 4 == 0:
            z[::5], z[1::5] = -0.0, 0.0  # signed zeros compare equal
        z[::11] = torch.tensor([-1e30, 1e30, -1e-30, 1e-30], dtype=dtype).repeat(n)[: len(z[::11])]
        owner = torch.sort(torch.randint(0, showers, (n,), generator=gen)).values
        assert torch.equal(depth_order(z, owner, showers), two_stable_sorts(z, owner))


def test_depth_order_is_scriptable():
    scripted = torch.jit.script(depth_order)
    z, owner = torch.randn(100), torch.sort(torch.randint(0, 3, (100,))).values
    assert torch.equal(scripted(z, owner, 3), two_stable_sorts(z, owner))
