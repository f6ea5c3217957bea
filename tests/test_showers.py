"""The shower data model: construction, slicing, batches, concatenation, showerdata bridge."""

import numpy as np
import pytest

from calozoo.showers import Showers, concatenate


def make(n=5, seed=0, z_units="layer"):
    rng = np.random.default_rng(seed)
    clouds = [
        np.column_stack([rng.normal(0, 10, (k, 2)), rng.uniform(0, 30, k), rng.exponential(1, k)])
        for k in rng.integers(1, 20, n)
    ]
    direction = np.tile([0.0, 0.6, 0.8], (n, 1))
    return Showers.from_point_lists(clouds, rng.uniform(1, 100, n), direction, 22, z_units), clouds


def test_padding_is_zero_and_counts_match():
    showers, clouds = make()
    assert showers.points.shape == (5, max(len(c) for c in clouds), 4)
    assert showers.num_points.tolist() == [len(c) for c in clouds]
    showers.check_padding()
    for cloud, got in zip(clouds, showers):
        np.testing.assert_allclose(got, cloud, rtol=1e-6)
    np.testing.assert_allclose(showers.visible_energy_mev, [c[:, 3].sum() for c in clouds], rtol=1e-5)


def test_slicing_keeps_conditions_and_trims_padding():
    showers, clouds = make()
    one = showers[2]
    assert len(one) == 1 and one.points.shape[1] == len(clouds[2])
    assert one.incident_energy_gev[0] == showers.incident_energy_gev[2]
    picked = showers[[4, 0]]
    assert picked.num_points.tolist() == [len(clouds[4]), len(clouds[0])]
    assert showers[-1] == showers[4]
    with pytest.raises(IndexError):
        showers[5]


def test_batches_and_concatenate_round_trip():
    showers, _ = make(n=7)
    batches = list(showers.batches(3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert concatenate(batches) == showers
    assert concatenate([Showers.empty(), showers]) == showers


def test_concatenate_refuses_mixed_z_units():
    a, _ = make(z_units="layer")
    b, _ = make(z_units="mm")
    with pytest.raises(ValueError, match="z units"):
        concatenate([a, b])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"points": np.zeros((2, 3, 3))}, r"\(N, P, 4\)"),
        ({"num_points": [1, 2, 3]}, "num_points must have shape"),
        ({"num_points": [1, 9]}, "num_points must lie"),
        ({"direction": np.zeros((2, 2))}, "direction must have shape"),
        ({"z_units": "cm"}, "z_units"),
    ],
)
def test_bad_construction_says_what_is_wrong(kwargs, message):
    good = dict(
        points=np.zeros((2, 3, 4)),
        num_points=[1, 2],
        incident_energy_gev=[1, 2],
        direction=np.tile([0, 0, 1.0], (2, 1)),
        pdg=22,
    )
    with pytest.raises(ValueError, match=message):
        Showers(**{**good, **kwargs})


def test_showerdata_bridge_converts_units_both_ways():
    showers, clouds = make()
    sd = showers.to_showerdata()
    # showerdata keeps the field's GeV convention
    np.testing.assert_allclose(sd.points[0, : len(clouds[0]), 3], clouds[0][:, 3] / 1000, rtol=1e-6)
    back = Showers.from_showerdata(sd)
    assert back.allclose(showers)  # float32 GeV <-> MeV is close, not bit-exact
