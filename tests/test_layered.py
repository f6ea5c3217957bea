"""The generic planar geometry: cell sums conserve energy, threshold and depth limits apply."""

import numpy as np
import pytest
from blob_models import BlobModel

from calozoo.calibration import EnergyScaleCalibrator
from calozoo.interfaces import CellHits, EnergyLosses, MissingLayersWarning
from calozoo.layered import PlanarGeometry
from calozoo.showers import Showers
from calozoo.testing import check_geometry

GEO = PlanarGeometry(np.arange(30) * 6.5 + 3.0, cell_size_mm=5.08833)


def test_projection_conserves_energy_without_threshold():
    showers = BlobModel().sample([10, 50, 90], seed=2)
    cells = GEO.project(showers)
    np.testing.assert_allclose(cells.showers.visible_energy_mev, showers.visible_energy_mev, rtol=1e-5)
    # fewer cells than points, each cell centre on the grid, one id per cell
    assert np.all(cells.showers.num_points <= showers.num_points)
    for i in range(3):
        ids = cells.cell_id[i, : cells.showers.num_points[i]]
        assert len(np.unique(ids)) == len(ids) and np.all(ids >= 0)
        xy = cells.showers.shower(i)[:, :2] / GEO.cell_size_mm - 0.5
        np.testing.assert_allclose(xy, np.round(xy), atol=1e-4)


def test_points_in_one_cell_merge_and_threshold_drops_small_cells():
    pts = np.array(
        [[1.0, 1.0, 0.2, 0.05], [2.0, 3.0, 0.9, 0.07], [12.0, 1.0, 0.5, 0.08], [1.0, 1.0, 31.0, 5.0]]
    )  # the last lies behind the last layer
    showers = Showers.from_point_lists([pts], [1.0])
    geo = PlanarGeometry(np.arange(30) * 6.5, cell_size_mm=5.0, threshold_mev=0.1)
    with pytest.warns(MissingLayersWarning, match="reach layer 31: 5 MeV"):
        hits = geo.project(showers)
    cells = hits.showers
    assert cells.num_points.tolist() == [1]
    np.testing.assert_allclose(cells.shower(0), [[2.5, 2.5, 0.5, 0.12]], rtol=1e-6)
    assert hits.losses.below_threshold_mev.tolist() == pytest.approx([0.08])
    assert hits.losses.outside_layers_mev.tolist() == pytest.approx([5.0])
    assert hits.losses.outside_mev.tolist() == [0.0] and hits.losses.dead_mev.tolist() == [0.0]


def test_projection_refuses_points_in_mm():
    showers = Showers.from_point_lists([np.ones((2, 4))], [1.0], z_units="mm")
    with pytest.raises(ValueError, match="layer units"):
        GEO.project(showers)


def test_energy_scale_calibrator_fits_through_the_geometry(tmp_path):
    reference = BlobModel().sample(np.full(20, 50.0), seed=1)
    generated = BlobModel().sample(np.full(20, 50.0), seed=2)
    generated.points[..., 3] *= 0.8  # a model that is 20 % low
    calibrator = EnergyScaleCalibrator().fit(generated, reference, GEO)
    assert calibrator.factor_ == pytest.approx(1.25, rel=0.02)
    fixed = calibrator.apply(generated)
    assert fixed.visible_energy_mev.mean() == pytest.approx(reference.visible_energy_mev.mean(), rel=0.02)
    calibrator.save(tmp_path / "cal")
    assert EnergyScaleCalibrator.load(tmp_path / "cal").factor_ == calibrator.factor_
    assert (
        PlanarGeometry.load(GEO.save(tmp_path / "geo")).layer_depth_mm.tolist() == GEO.layer_depth_mm.tolist()
    )


def test_projection_re_applies_the_tilt_layer_by_layer():
    # one point on the trajectory in every layer of a shower at 60 deg to the normal, along x
    direction = [np.sin(np.radians(60)), 0.0, np.cos(np.radians(60))]
    pts = np.column_stack([np.zeros(30), np.zeros(30), np.arange(30) + 0.5, np.ones(30)])
    showers = Showers.from_point_lists([pts], [50.0], [direction])
    geo = PlanarGeometry(np.arange(30) * 6.5 + 3.0, cell_size_mm=1.0)
    cells = geo.project(showers).showers.shower(0)
    # sorted by layer, each cell sits under depth * tan(60 deg) along x, none along y
    expected_x = (np.arange(30) * 6.5 + 3.0) * np.tan(np.radians(60))
    np.testing.assert_allclose(cells[:, 0], np.floor(expected_x) + 0.5)
    np.testing.assert_allclose(cells[:, 1], 0.5)


def test_projection_places_the_shower_at_its_incident_point():
    showers = Showers.from_point_lists([np.array([[0.2, 0.2, 3.5, 1.0]])] * 2, [10.0, 10.0])
    cells = GEO.project(showers, incident_point_mm=[[0.0, 0.0], [100.0, -50.0]]).showers
    pitch = GEO.cell_size_mm
    np.testing.assert_allclose(cells.points[0, 0, :2], [0.5 * pitch, 0.5 * pitch], rtol=1e-6)
    # (100.2, -49.8) mm lies in cell (19, -10); cell hits are given relative to the incident point
    np.testing.assert_allclose(cells.points[1, 0, :2], [19.5 * pitch - 100, -9.5 * pitch + 50], rtol=1e-5)
    with pytest.raises(ValueError, match="front face"):
        GEO.project(showers, incident_point_mm=[0.0, 0.0, 5.0])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        GEO.project(showers, incident_point_mm=np.zeros((3, 2)))


def test_the_planar_geometry_passes_the_conformance_kit(tmp_path):
    check_geometry(GEO, tmp_path)
    check_geometry(PlanarGeometry(np.arange(12) * 6.5 + 3.0, cell_size_mm=5.0, threshold_mev=0.1), tmp_path)


def test_a_30_layer_model_in_a_10_layer_geometry_warns_what_was_lost():
    showers = BlobModel().sample([50.0, 50.0], seed=3)  # 30 layers
    geo = PlanarGeometry(np.arange(10) * 6.5 + 3.0, cell_size_mm=5.0, threshold_mev=0.1, name="ten")
    z, e = showers.points[..., 2], showers.points[..., 3]
    behind = np.where(showers.padding_mask & (z >= 10), e, 0.0).sum(axis=1, dtype=np.float64)
    with pytest.warns(MissingLayersWarning) as record:
        cells = geo.project(showers)
    np.testing.assert_allclose(cells.losses.outside_layers_mev, behind, rtol=1e-9)
    message = str(record[0].message)
    share = behind.sum() / showers.visible_energy_mev.sum()
    assert message.startswith("ten has 10 layers (0-9) but the showers reach layer 29: ")
    assert f"{behind.sum():.4g} MeV ({share:.1%} of the input's" in message
    assert "the largest loss is outside the layers" in message
    np.testing.assert_allclose(
        cells.showers.visible_energy_mev + cells.losses.total_mev, showers.visible_energy_mev, rtol=1e-6
    )


def test_energy_losses_add_up_and_refuse_mismatched_shapes():
    lost = EnergyLosses.zeros(2, dead_mev=[1.0, 2.0], outside_layers_mev=[0.0, 5.0])
    assert lost.total_mev.tolist() == [1.0, 7.0] and len(lost) == 2
    assert lost.dominant() == "outside the layers"
    assert lost.summary(100.0) == "8 MeV (8.0%): outside the layers 5 MeV (5.0%), dead regions 3 MeV (3.0%)"
    with pytest.raises(ValueError, match="dead_mev must be"):
        EnergyLosses.zeros(2, dead_mev=[1.0])
    # cell hits built by hand (not by a geometry) carry no losses
    assert CellHits(Showers.empty(), np.zeros((0, 0), dtype=np.int64)).losses is None


class _SilentGeometry(PlanarGeometry):
    """Breaks the contract: forgets the losses, or cuts layers without a word."""

    def __init__(self, *args, forget_losses: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.forget_losses = forget_losses

    def project(self, showers, incident_point_mm=None):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingLayersWarning)
            hits = super().project(showers, incident_point_mm)
        return CellHits(hits.showers, hits.cell_id, None if self.forget_losses else hits.losses)


def test_the_conformance_kit_catches_a_geometry_that_hides_its_losses():
    depth = np.arange(10) * 6.5 + 3.0
    with pytest.raises(AssertionError, match="must fill CellHits.losses"):
        check_geometry(_SilentGeometry(depth, cell_size_mm=5.0, forget_losses=True))
    with pytest.raises(AssertionError, match="MissingLayersWarning"):
        check_geometry(_SilentGeometry(depth, cell_size_mm=5.0))
