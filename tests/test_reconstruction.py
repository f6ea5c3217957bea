"""Reconstruction: overlaying showers into events, the photon finder, its files and commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import calozoo
from calozoo.cli import main
from calozoo.reconstruction import (
    Events,
    PhotonCalibration,
    PhotonFinder,
    ReconstructionError,
    find_photons,
    overlay,
    sample_events,
)
from calozoo.reconstruction.benchmarks import fit_resolution, sigma90
from calozoo.reconstruction.files import read_events, read_photons, write_events, write_photons

pytest.importorskip("calozoo_ild")
pytest.importorskip("calozoo_toyflow")

RADIUS = 1804.8


@pytest.fixture(scope="module")
def barrel():
    return calozoo.geometry("ild-ecal-barrel")


@pytest.fixture(scope="module")
def toy():
    return calozoo.load("toy-gamma")


@pytest.fixture(scope="module")
def toy_calibration(toy, barrel):
    """The finder's calibration for toy-gamma showers (the barrel's own is the reference MC's)."""
    energy = np.array([5.0, 20.0, 50.0, 100.0] * 3)
    n = len(energy)
    events = events_of(toy, barrel, energy, np.linspace(-300, 300, n), np.zeros(n), np.arange(n), seed=9)
    photons = PhotonFinder.for_geometry(barrel, min_energy_gev=0.0).find(events)
    lead = photons.leading()
    return PhotonCalibration.fit(photons.layer_energy_mev[lead], energy, barrel.calibration_layer_groups)


def top_stave(along, across):
    """Global points on the top stave's face (``along`` the beam, ``across`` it) and IP directions."""
    point = np.stack([np.asarray(across, float), np.full(len(along), RADIUS), np.asarray(along, float)], 1)
    return point, point / np.linalg.norm(point, axis=1, keepdims=True)


def events_of(toy, barrel, energy, along, across, event, seed=1):
    point, direction = top_stave(along, across)
    return sample_events(
        toy, barrel, np.asarray(energy, float), point, direction, np.asarray(event), seed=seed
    )


# ---------------------------------------------------------------------------- overlay
def test_overlay_sums_deposits_per_cell_before_the_threshold(barrel):
    # two showers, each leaving 0.06 MeV in the same cell: alone each is below the 0.1 MeV threshold
    points = [np.array([[0.0, 0.0, 3.5, 0.06]], np.float32)] * 2
    showers = calozoo.Showers.from_point_lists(points, [10.0, 10.0])
    entry = barrel.default_incident_point_mm
    alone = barrel.project(showers, np.stack([entry, entry]))
    assert alone.showers.num_points.tolist() == [0, 0]
    together = overlay(barrel, showers, entry, [0, 0])
    assert len(together.energy_mev) == 1 and together.energy_mev[0] == pytest.approx(0.12, rel=1e-5)
    assert together.layer.tolist() == [3]
    apart = overlay(barrel, showers, entry, [0, 1])
    assert apart.n_hits.tolist() == [0, 0]


def test_overlay_at_threshold_zero_keeps_every_mev_of_the_projection(barrel, toy):
    showers = toy.sample([20.0, 30.0, 40.0], seed=3)
    entry = barrel.default_incident_point_mm
    free = type(barrel)(threshold_mev=0.0)
    events = overlay(free, showers, entry, [0, 0, 1])
    cells = free.project(showers, entry).showers.visible_energy_mev
    assert events.visible_energy_mev == pytest.approx([cells[0] + cells[1], cells[2]], rel=1e-9)
    # every hit sits at its cell's global centre, on the top stave's side of the barrel
    assert np.all(events.position_mm[:, 1] > RADIUS)
    assert events.particles.event.tolist() == [0, 0, 1]


def test_overlay_refuses_bad_event_indices(barrel, toy):
    showers = toy.sample([20.0, 30.0], seed=1)
    with pytest.raises(ReconstructionError, match="event must be"):
        overlay(barrel, showers, barrel.default_incident_point_mm, [0])
    with pytest.raises(ReconstructionError, match="event must be"):
        overlay(barrel, showers, barrel.default_incident_point_mm, [0, -1])


# ---------------------------------------------------------------------------- the finder
def test_a_single_shower_is_one_photon_with_its_energy(toy, barrel):
    energy = np.array([10.0, 50.0, 100.0] * 4)
    n = len(energy)
    events = events_of(
        toy, barrel, energy, np.linspace(-900, 900, n), np.linspace(-150, 150, n), np.arange(n)
    )
    # calibrate on these very showers: then each photon's energy must lie within the resolution
    finder = PhotonFinder.for_geometry(barrel)
    photons = finder.find(events)
    assert photons.count.tolist() == [1] * n
    lead = photons.leading()
    calibration = PhotonCalibration.fit(
        photons.layer_energy_mev[lead], energy, barrel.calibration_layer_groups
    )
    ratio = calibration.energy_gev(photons.layer_energy_mev[lead]) / energy
    resolution = np.hypot(0.2 / np.sqrt(energy), 0.02)  # of the order of the CALICE prototype's
    assert np.all(np.abs(ratio - 1) < 3 * resolution)
    # the photon sits where the shower entered, its axis along the photon's direction
    point, direction = top_stave(np.linspace(-900, 900, n), np.linspace(-150, 150, n))
    cosine = np.sum(photons.direction_core[lead] * direction, axis=1)
    assert np.all(cosine > np.cos(np.radians(5)))


def test_two_photons_apart_are_two_and_on_top_of_each_other_one(toy, barrel, toy_calibration):
    along = np.array([0.0, 100.0, 400.0, 400.0])
    events = events_of(toy, barrel, [20.0] * 4, along, [0.0] * 4, [0, 0, 1, 1])
    photons = find_photons(events, calibration=toy_calibration)
    assert photons.count.tolist() == [2, 1]
    one = photons.event == 1
    # the two showers of event 1 became one photon of about twice the energy
    assert photons.energy_gev[one][0] == pytest.approx(40.0, rel=0.15)
    two = np.sort(photons.position_mm[photons.event == 0, 2])
    assert two == pytest.approx([0.0, 100.0], abs=25.0)


def test_same_hits_same_photons(toy, barrel):
    events = events_of(toy, barrel, [5.0, 5.0, 30.0], [0.0, 30.0, -500.0], [0.0, 10.0, 50.0], [0, 0, 1])
    first, second = find_photons(events), find_photons(events)
    for name, value in first.arrays().items():
        np.testing.assert_array_equal(value, getattr(second, name), err_msg=name)


def test_an_event_without_hits_has_no_photon(barrel):
    events = Events(2, [1, 1], [5, 6], [[0, RADIUS, 0]] * 2, [3, 3], [0.2, 0.3], geometry=barrel.name)
    photons = find_photons(events)
    assert photons.count.tolist() == [0, 0]  # 0.5 MeV is far below a photon
    assert photons.unassigned_mev.tolist() == pytest.approx([0.0, 0.5])


def test_finder_refuses_what_it_cannot_use(barrel):
    with pytest.raises(ReconstructionError, match="takes calozoo.reconstruction.Events"):
        find_photons(np.zeros((3, 4)), barrel)
    with pytest.raises(ReconstructionError, match="valley"):
        PhotonFinder(5.0, barrel.photon_calibration, valley=1.5)
    regular = calozoo.geometry("ild-ecal-regular")
    with pytest.raises(ReconstructionError, match="staves"):
        from calozoo.reconstruction.benchmarks import face_points

        face_points(regular, 3, np.random.default_rng(0))


def test_the_finder_works_in_a_geometry_without_staves(toy):
    # the planar regularised ILD: one frame, the vertex put 1804.8 mm in front of the face
    regular = calozoo.geometry("ild-ecal-regular")
    showers = toy.sample([20.0, 20.0, 20.0], seed=2)
    events = overlay(regular, showers, [[0.0, 0.0, 0.0], [120.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [0, 0, 1])
    calibration = PhotonCalibration(((0, 20), (20, 30)), barrel_weights())
    photons = find_photons(events, regular, calibration=calibration, vertex_mm=(0.0, 0.0, -RADIUS))
    assert photons.count.tolist() == [2, 1]


def barrel_weights():
    return calozoo.geometry("ild-ecal-barrel").photon_calibration.weights


# ---------------------------------------------------------------------------- calibration and statistics
def test_calibration_fit_recovers_known_weights():
    rng = np.random.default_rng(0)
    layer = rng.uniform(1, 10, (50, 4))
    weights = np.array([0.04, 0.08])
    truth = layer[:, :2].sum(1) * weights[0] + layer[:, 2:].sum(1) * weights[1]
    fitted = PhotonCalibration.fit(layer, truth, [(0, 2), (2, 4)])
    assert fitted.weights == pytest.approx(weights, rel=1e-9)
    assert PhotonCalibration.from_json(fitted.to_json()) == fitted
    with pytest.raises(ReconstructionError, match="without gaps"):
        PhotonCalibration([(0, 2), (3, 4)], [1.0, 1.0])


def test_sigma90_and_resolution_fit():
    rng = np.random.default_rng(1)
    values = np.r_[rng.normal(10.0, 1.0, 9000), rng.uniform(0, 5, 1000)]  # a low tail of 10 %
    mu, sigma = sigma90(values)
    assert mu == pytest.approx(10.0, abs=0.1) and sigma < 1.0
    energy = np.array([1.0, 5.0, 20.0, 100.0])
    resolution = np.hypot(0.17 / np.sqrt(energy), 0.01)
    fit = fit_resolution(energy, resolution, resolution * 0.01)
    assert fit["stochastic"] == pytest.approx(0.17, rel=1e-6) and fit["constant"] == pytest.approx(
        0.01, rel=1e-4
    )


# ---------------------------------------------------------------------------- files and commands
def test_events_and_photons_files_round_trip(toy, barrel, tmp_path):
    events = events_of(toy, barrel, [10.0, 10.0], [0.0, 200.0], [0.0, 0.0], [0, 1])
    write_events(tmp_path / "events.h5", events)
    back = read_events(tmp_path / "events.h5")
    np.testing.assert_array_equal(back.cell_id, events.cell_id)
    np.testing.assert_array_equal(back.particles.entry_point_mm, events.particles.entry_point_mm)
    photons = find_photons(back)
    write_photons(tmp_path / "photons.h5", photons, barrel.name)
    again = read_photons(tmp_path / "photons.h5")
    np.testing.assert_array_equal(again.energy_gev, photons.energy_gev)
    (tmp_path / "notes.h5").write_text("mine")
    with pytest.raises(calozoo.errors.OutputError):
        write_photons(tmp_path / "notes.h5", photons)  # not calozoo's: never replaced
    assert (tmp_path / "notes.h5").read_text() == "mine"


def test_reconstruct_command_on_projected_cells(tmp_path):
    runner = CliRunner()
    # reference-MC showers: the barrel's shipped calibration was fitted on them
    args = [
        "generate",
        "reference-mc",
        "-n",
        "3",
        "--energy",
        "20",
        "--seed",
        "1",
        "-o",
        str(tmp_path / "s.h5"),
    ]
    assert runner.invoke(main, args).exit_code == 0
    args = ["project", str(tmp_path / "s.h5"), "-o", str(tmp_path / "c.h5"), "--geometry", "ild-ecal-barrel"]
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, ["reconstruct", str(tmp_path / "c.h5"), "-o", str(tmp_path / "p.h5")])
    assert result.exit_code == 0, result.output
    assert "3 photons in 3 events" in result.output
    photons = read_photons(tmp_path / "p.h5")
    assert photons.energy_gev == pytest.approx([20.0] * 3, rel=0.2)
    bad = runner.invoke(main, ["reconstruct", str(tmp_path / "s.h5"), "-o", str(tmp_path / "q.h5")])
    assert bad.exit_code == 1 and "neither events" in bad.output and "Traceback" not in bad.output


def test_benchmark_command_writes_a_report(tmp_path):
    report = tmp_path / "report"
    args = [
        "benchmark",
        "diphoton",
        "toy-gamma",
        "--reference",
        "toy-gamma",
        "--energies",
        "10",
        "-n",
        "20",
        "--seed",
        "2",
        "--report",
        str(report),
        "--no-plots",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads((report / "results.json").read_text())
    samples = data["result"]["per_energy"]["10.0"]
    assert set(samples) == {"model", "reference", "twin"}
    # the same model as its own reference with the same seeds: identical showers, identical curves
    assert samples["model"]["fraction"] == samples["reference"]["fraction"]
    assert "d50" in (report / "index.md").read_text()
    bad = CliRunner().invoke(main, [*args[:5], "--energies", "ten", *args[7:]])
    assert bad.exit_code != 0 and "comma-separated numbers" in bad.output


def test_the_documented_example_runs():
    pytest.importorskip("calozoo_caloclouds3")
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "reconstruction.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(code, "docs/reconstruction.md", "exec"), scope)
    photons = scope["photons"]
    assert photons.count.tolist() == [2]  # 40 mm apart: two photons (the page says so)
    assert photons.energy_gev.sum() == pytest.approx(40.0, rel=0.15)


@pytest.mark.parametrize("kind", ["linearity", "angle"])
def test_single_photon_benchmarks_run_and_compare_like_with_like(kind, barrel, toy):
    from calozoo.reconstruction import benchmarks

    setup = benchmarks.Setup(toy, toy, barrel, seed=4)
    run = getattr(benchmarks, kind)
    result = run(setup, energies=(5.0, 20.0, 50.0), n_per_energy=12)
    samples = result["samples"]
    assert set(samples) == {"model", "reference", "twin"}
    if kind == "linearity":
        # the calibration is fitted on the reference: it is linear, and the model (the same toy,
        # the same seeds) is the reference exactly; the twin differs by its seeds only
        def values(sample):  # the bootstrap errors draw on, sample after sample
            return [
                {k: v for k, v in row.items() if not k.endswith("_err")}
                for row in samples[sample]["per_energy"]
            ]

        assert values("model") == values("reference")
        ratios = [row["mu90_over_e"] for row in samples["reference"]["per_energy"]]
        assert ratios == pytest.approx([1.0] * 3, abs=0.1)
        assert all(row["efficiency"] == 1.0 for row in samples["twin"]["per_energy"])
    else:
        core = samples["reference"]["top4"]["per_energy"]
        assert [row["energy_gev"] for row in core] == [5.0, 20.0, 50.0]
        assert all(row["angle_median"] < 5.0 for row in core)  # degrees off the true direction
        assert samples["model"]["top4"]["values"] == samples["reference"]["top4"]["values"]
