"""calozoo_engine.sampling and the EDM coefficients: diffusers' schedulers give the engine's numbers."""

from __future__ import annotations

import math

import pytest
import torch
from calozoo_engine import pointnet as pn
from calozoo_engine import sampling
from calozoo_engine.model import per_shower_normal
from diffusers import CMStochasticIterativeScheduler, EDMEulerScheduler


def _net(seed: int = 1) -> pn.PointwiseNet:
    """A small random network with non-trivial weights (far from the initialisation)."""
    net = pn.PointwiseNet((4, 16, 32, 16, 4), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return net.eval()


def _gens(seeds) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def _owner(counts) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


# ------------------------------------------------------------------ coefficients
SIGMAS = [pn.SIGMA_MIN, 0.01, 0.3, pn.SIGMA_DATA, 1.0, 7.5, pn.SIGMA_MAX]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_coefficients_edm_identities(sigma):
    sd = pn.SIGMA_DATA
    # the network input has unit variance for data of std sigma_data plus noise sigma
    assert pn.c_in(sigma) ** 2 * (sigma**2 + sd**2) == pytest.approx(1.0, rel=1e-12)
    # c_skip + (c_out / sigma_data)^2 = 1, c_out = sigma sigma_data c_in, c_skip = sigma_data^2 c_in^2
    assert pn.c_skip(sigma) + (pn.c_out(sigma) / sd) ** 2 == pytest.approx(1.0, rel=1e-12)
    assert pn.c_out(sigma) == pytest.approx(sigma * sd * pn.c_in(sigma), rel=1e-12)
    assert pn.c_skip(sigma) == pytest.approx(sd**2 * pn.c_in(sigma) ** 2, rel=1e-12)
    assert pn.c_noise(sigma) == pytest.approx(math.log(sigma) / 4, rel=1e-12)
    # the boundary versions are EDM's at sigma_min = 0
    assert pn.c_skip_boundary(sigma, sd, 0.0) == pn.c_skip(sigma, sd)
    assert pn.c_out_boundary(sigma, sd, 0.0) == pn.c_out(sigma, sd)


def test_coefficients_boundary_condition():
    """Song et al.: c_skip(sigma_min) = 1 and c_out(sigma_min) = 0, so f(x; sigma_min) = x."""
    assert pn.c_skip_boundary(pn.SIGMA_MIN) == 1.0
    assert pn.c_out_boundary(pn.SIGMA_MIN) == 0.0
    s = torch.tensor([pn.SIGMA_MIN])
    assert torch.equal(pn.c_skip_boundary(s), torch.ones(1))
    assert torch.equal(pn.c_out_boundary(s), torch.zeros(1))
    x = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(0))
    student = pn.Denoiser(_net(), boundary=True)
    assert torch.equal(student(x, pn.SIGMA_MIN * torch.ones(2), torch.rand(2, 4)), x)


def test_coefficients_floats_and_tensors_agree_with_diffusers():
    sigma = torch.tensor(SIGMAS, dtype=torch.float64)
    for f in (pn.c_skip, pn.c_out, pn.c_in, pn.c_noise, pn.c_skip_boundary, pn.c_out_boundary):
        tensor = f(sigma)
        assert tensor.dtype == torch.float64 and tensor.shape == sigma.shape
        torch.testing.assert_close(tensor, torch.tensor([f(s) for s in SIGMAS], dtype=torch.float64))
    edm = EDMEulerScheduler(sigma_data=pn.SIGMA_DATA)
    # precondition_outputs = c_skip x + c_out F: read the two weights off x = 1, F = 0 and x = 0, F = 1
    one, zero = torch.ones_like(sigma), torch.zeros_like(sigma)
    torch.testing.assert_close(edm.precondition_outputs(one, zero, sigma), pn.c_skip(sigma))
    torch.testing.assert_close(edm.precondition_outputs(zero, one, sigma), pn.c_out(sigma))
    torch.testing.assert_close(edm.precondition_inputs(one, sigma), pn.c_in(sigma))
    torch.testing.assert_close(edm.precondition_noise(sigma), pn.c_noise(sigma))
    cm = CMStochasticIterativeScheduler(sigma_min=pn.SIGMA_MIN, sigma_data=pn.SIGMA_DATA)
    skip, out = cm.get_scalings_for_boundary_condition(sigma)
    torch.testing.assert_close(skip, pn.c_skip_boundary(sigma))
    torch.testing.assert_close(out, pn.c_out_boundary(sigma))


# ------------------------------------------------------------------ noise levels
@pytest.mark.parametrize("n", [1, 2, 5, 18, 20, 40])
def test_diffusers_karras_sigmas_are_the_engines(n):
    expected = pn.karras_sigmas(n)
    got = sampling.karras_sigmas(n)
    assert got.dtype == torch.float32 and got.shape == (n,)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
    assert got[0] == pn.SIGMA_MAX and (n == 1 or got[-1] == pytest.approx(pn.SIGMA_MIN, rel=1e-6))
    torch.testing.assert_close(
        sampling.karras_sigmas(n, 0.01, 10.0, 5.0), pn.karras_sigmas(n, 0.01, 10.0, 5.0), rtol=1e-6, atol=0
    )


@pytest.mark.parametrize("n", [2, 5, 18, 20])
def test_heun_scheduler_grid_is_the_engines(n):
    scheduler = sampling.heun_scheduler(n)
    s = scheduler.sigmas  # s_0, s_1, s_1, ..., s_(n-1), s_(n-1), 0
    assert len(s) == 2 * n and len(scheduler.timesteps) == 2 * n - 1 and s[-1] == 0
    torch.testing.assert_close(s[1:-1:2], s[2:-1:2])
    torch.testing.assert_close(torch.cat([s[:1], s[1:-1:2]]), pn.karras_sigmas(n), rtol=1e-6, atol=0)


# ------------------------------------------------------------------ the teacher
@pytest.mark.parametrize("steps", [2, 6, 18])
def test_diffusers_heun_sample_is_heun_sample(steps):
    denoiser = pn.Denoiser(_net())
    cond = torch.rand(3, 4, generator=torch.Generator().manual_seed(2))
    plain = pn.heun_sample(denoiser, cond, 40, torch.Generator().manual_seed(7), steps)
    through_diffusers = sampling.heun_sample(denoiser, cond, 40, torch.Generator().manual_seed(7), steps)
    assert plain.shape == through_diffusers.shape == (3, 40, 4)
    assert torch.isfinite(plain).all()
    torch.testing.assert_close(through_diffusers, plain, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ the student, multistep
def test_multistep_one_level_is_onestep():
    net = _net()
    counts = [5, 11, 3]
    gen = torch.Generator().manual_seed(3)
    noise, cond = torch.randn(sum(counts), 4, generator=gen), torch.rand(3, 4, generator=gen)
    for row_block in (0, pn.ROW_BLOCK):
        expected = pn.OneStep(net, row_block=row_block)(noise, _owner(counts), cond)
        one_level = pn.MultiStep(net, (pn.SIGMA_MAX,), row_block=row_block)
        assert torch.equal(one_level(noise, _owner(counts), cond), expected)
    points, owner = sampling.multistep_sample(net, cond, counts, _gens([1, 2, 3]), sigmas=(pn.SIGMA_MAX,))
    noise = per_shower_normal(_gens([1, 2, 3]), counts, 4)
    assert torch.equal(owner, _owner(counts))
    assert torch.equal(points, pn.OneStep(net)(noise, owner, cond))


def test_multistep_is_torchscript_compatible():
    net = _net()
    counts = [4, 6]
    gen = torch.Generator().manual_seed(4)
    noise, cond = torch.randn(10, 4, generator=gen), torch.rand(2, 4, generator=gen)
    extra = torch.randn(2, 10, 4, generator=gen)
    module = pn.MultiStep(net, (80.0, 2.0, 0.5), row_block=pn.ROW_BLOCK)
    scripted = torch.jit.script(module)
    owner = _owner(counts)
    assert torch.equal(scripted(noise, owner, cond, extra), module(noise, owner, cond, extra))
    with pytest.raises(Exception, match="extra noise"):
        scripted(noise, owner, cond)


@pytest.mark.parametrize("sigmas", [(), (80.0, 80.0), (0.8, 80.0), (80.0, pn.SIGMA_MIN)])
def test_multistep_refuses_bad_levels(sigmas):
    with pytest.raises(ValueError):
        pn.MultiStep(_net(), sigmas)


@pytest.mark.parametrize("row_block", [pn.ROW_BLOCK, 0])
def test_multistep_two_levels_per_shower_and_batch_independent(row_block):
    """Each shower's noise is its own; with row_block > 0 its points are bit-identical in any batch,
    without, its points differ at the rounding level (a matrix product rounds a row differently for
    different numbers of rows)."""
    net = _net()
    gen = torch.Generator().manual_seed(5)
    cond = torch.rand(4, 4, generator=gen)
    counts, seeds = [6, 9, 2, 7], [11, 12, 13, 14]

    def sample(cond, counts, seeds, sigmas=(80.0, 0.8)):
        return sampling.multistep_sample(net, cond, counts, _gens(seeds), sigmas, row_block=row_block)

    def same(a, b):
        if row_block > 0:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)

    points, owner = sample(cond, counts, seeds)
    assert torch.equal(points, sample(cond, counts, seeds)[0])
    # the extra noise changes the result: the second level is really used
    assert not torch.allclose(points, sample(cond, counts, seeds, (80.0,))[0])
    # shower 1 alone, and in another batch (other showers, other order), gives the same points
    same(sample(cond[1:2], [9], [12])[0], points[owner == 1])
    other_cond = torch.cat([cond[3:4], torch.rand(1, 4, generator=gen), cond[1:2]])
    mixed, mixed_owner = sample(other_cond, [7, 30, 9], [14, 99, 12])
    same(mixed[mixed_owner == 2], points[owner == 1])
    same(mixed[mixed_owner == 0], points[owner == 3])


def test_multistep_is_diffusers_consistency_sampler():
    """Given the same noise, MultiStep is CMStochasticIterativeScheduler's multistep loop.

    The scheduler draws its noise inside ``step`` from one generator for the whole tensor (so a
    shower's noise would depend on the batch): here one batch, one generator, replayed for MultiStep.
    """
    net = _net()
    counts = [5, 8, 3]
    owner, cond = _owner(counts), torch.rand(3, 4, generator=torch.Generator().manual_seed(6))
    for timesteps in ([0], [22, 0], [30, 12, 0]):
        scheduler = CMStochasticIterativeScheduler(clip_denoised=False)
        scheduler.set_timesteps(timesteps=timesteps)
        gen = torch.Generator().manual_seed(8)
        x = torch.randn(sum(counts), 4, generator=gen) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            scaled = scheduler.scale_model_input(x, t)
            # the scheduler's timestep is 1000 c_noise (250 ln sigma)
            c_noise = torch.full((len(cond),), float(t) / 1000)
            model_output = net.forward_flat(scaled, c_noise, cond, owner)
            x = scheduler.step(model_output, t, x, generator=gen).prev_sample
        replay = torch.Generator().manual_seed(8)
        noise = torch.randn(sum(counts), 4, generator=replay)
        extra = [torch.randn(sum(counts), 4, generator=replay) for _ in timesteps[1:]]
        levels = tuple(scheduler.sigmas[:-1].tolist())
        assert len(levels) == len(timesteps) and levels[0] == pn.SIGMA_MAX
        expected = pn.MultiStep(net, levels)(noise, owner, cond, torch.stack(extra) if extra else None)
        torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-5)


def test_assembled_points_stay_in_their_layer_at_the_upper_edge():
    """``layer + within`` rounds up to the next layer in float32 for ``within`` just below 1."""
    import torch
    from calozoo_engine.points import assemble_points, point_owner

    counts = torch.tensor([[0] * 20 + [3] * 10])
    owner = point_owner(counts)
    features = torch.zeros(len(owner), 4)
    features[:, 2] = torch.linspace(-1, 1, len(owner))
    within = torch.full((len(owner),), 0.99999994)  # the largest float32 below 1
    energy = (counts > 0).float()  # 1 MeV in each filled layer
    mean, std = torch.zeros(4), torch.ones(4)
    points = assemble_points(features, owner, counts, energy, within, mean, std, 1.0, 1.0)
    layer = torch.repeat_interleave(torch.arange(30), counts[0])
    assert torch.equal(torch.floor(points[:, 2]).long(), layer)
    assert bool((points[:, 2] > layer.float() + 0.999).all())
    sums = torch.zeros(30).index_add_(0, torch.floor(points[:, 2]).long(), points[:, 3])
    torch.testing.assert_close(sums, energy[0])
