"""The field's direction: across the shower in the barrel, along it in the endcap."""

import numpy as np
import pytest
from calozoo_refmc.model import ReferenceMC

import calozoo


def transverse_rms(showers):
    """Energy-weighted rms of the hits' x and y, averaged over the showers (mm)."""
    second = [
        [np.average(q[:, 0] ** 2, weights=q[:, 3]), np.average(q[:, 1] ** 2, weights=q[:, 3])]
        for q in (showers.shower(i) for i in range(len(showers)))
    ]
    return np.sqrt(np.mean(second, axis=0))


def electrons(field_direction):
    # a strong field and soft electrons make the curl plain to see in 150 showers
    model = calozoo.load(
        "reference-mc", output="raw", physics_version=2, field_tesla=20.0, field_direction=field_direction
    )
    return transverse_rms(model.sample(np.full(150, 0.5), [0.0, 0.0, 1.0], pdg=11, seed=3))


def test_charges_curl_about_the_fields_axis_whichever_it_is():
    along_x, along_y, along_z = electrons((1, 0, 0)), electrons((0, 1, 0)), electrons((0, 0, 1))
    # across the field the tracks curl: a field along x widens the shower in y, one along y in x
    assert along_x[1] / along_x[0] > 1.6
    assert along_y[0] / along_y[1] > 1.6
    # the same physics turned by 90 degrees (the general rotation agrees with the barrel's own)
    assert along_y[0] / along_y[1] == pytest.approx(along_x[1] / along_x[0], rel=0.15)
    # along the shower axis (the endcap) nothing tells x from y
    assert along_z[0] / along_z[1] == pytest.approx(1.0, abs=0.12)


def test_the_field_direction_comes_from_the_geometry_and_is_saved(tmp_path):
    barrel = calozoo.load("reference-mc", physics_version=2)
    endcap = calozoo.load("reference-mc", geometry="ild-ecal-endcap-regular", physics_version=2)
    assert barrel.field_direction == (1.0, 0.0, 0.0) and "field_direction" not in barrel.get_config()
    assert endcap.field_direction == (0.0, 0.0, 1.0)
    assert endcap.get_config()["field_direction"] == [0.0, 0.0, 1.0]
    assert type(endcap).load(endcap.save(tmp_path / "endcap")).field_direction == (0.0, 0.0, 1.0)
    # the same seed gives the same showers in either, and different ones between them
    a = endcap.sample([2.0, 2.0], seed=4)
    assert a == endcap.sample([2.0, 2.0], seed=4) and a != barrel.sample([2.0, 2.0], seed=4)
    with pytest.raises(ValueError, match="field_direction must be a unit 3-vector"):
        ReferenceMC(field_direction=(1.0, 1.0, 0.0))
