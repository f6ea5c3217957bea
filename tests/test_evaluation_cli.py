"""`calozoo evaluate` as a user meets it: files in, a report folder out, clear errors on bad input."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from test_evaluation import ild_like, toy_showers

import calozoo
from calozoo.evaluation import evaluate, write_report
from calozoo.evaluation.cli import evaluate_command
from calozoo.evaluation.observables import OBSERVABLES
from calozoo.io import write_showers

ENERGIES = (10.0, 20.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("showers")
    paths = {}
    for name, seed in (("reference", 1), ("seed1", 2), ("seed2", 3), ("other", 4)):
        paths[name] = write_showers(folder / f"{name}.h5", toy_showers(seed, ENERGIES, 100))
    paths["wrong_energies"] = write_showers(folder / "wrong.h5", toy_showers(5, (10.0, 30.0), 100))
    return paths


@pytest.fixture
def planar_geometry(monkeypatch):
    """The CLI looks geometries up by name: answer "ild-like" with the ILD-like planar geometry."""
    real = calozoo.geometry
    monkeypatch.setattr(
        calozoo, "geometry", lambda name, **kw: ild_like() if name == "ild-like" else real(name, **kw)
    )
    return "ild-like"


def run(*args):
    return CliRunner().invoke(evaluate_command, [str(a) for a in args])


def test_cli_writes_a_report_with_every_figure_and_number(files, planar_geometry, tmp_path):
    report = tmp_path / "report"
    result = run(
        f"toy={files['seed1']}",
        f"toy={files['seed2']}",
        files["other"],
        "--reference",
        files["reference"],
        "--geometry",
        planar_geometry,
        "--report",
        report,
    )
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and "AUC" in result.output
    assert "floor (matched-halves)" in result.output
    data = json.loads((report / "results.json").read_text())
    assert data["models"] == {"toy": [200, 200], "other": [200]}
    assert data["inputs"]["toy file(s)"] == f"{files['seed1']}, {files['seed2']}"
    assert data["calozoo_version"] == calozoo.__version__
    assert [s["key"] for s in data["slices"]] == ["all", "10GeV", "20GeV"]
    toy = data["distances"]["all"]["cell_energy"]["toy"]
    assert toy["error_method"] == "std over samples" and len(toy["jsd"]["per_sample"]) == 2
    assert set(data["binning"]["all"]) == {o.name for o in OBSERVABLES}
    assert 0 <= data["classifier"]["other"]["auc"]["mean"] <= 1
    # the page ties the figures to the tables: every image it shows exists
    page = (report / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {f"plots/{o.name}.png" for o in OBSERVABLES} <= set(images)
    assert "plots/distance_vs_energy.png" in images and "plots/overview.png" in images
    for image in images:
        assert (report / image).stat().st_size > 10_000
    assert "<table>" in page and "Jensen-Shannon divergence [nats], all energies" in page
    assert data["settings"]["floor"] == "matched-halves" and "matched in incident energy" in page
    markdown = (report / "index.md").read_text()
    assert "| total visible energy |" in markdown and "![" in markdown


def test_cli_reads_shard_folders_caches_the_reference_and_takes_a_twin(files, planar_geometry, tmp_path):
    """A folder of shards as the reference, a twin for the floor, bits; the second model's evaluation
    reuses the measured reference (and twin) from the cache beside the report."""
    shards = tmp_path / "reference"
    shards.mkdir()
    reference = calozoo.read_showers(files["reference"])
    write_showers(shards / "shard-00000.h5", reference[:120])
    write_showers(shards / "shard-00001.h5", reference[120:])
    twin = toy_showers(9, ENERGIES, 100)  # the same per-shower conditions, in the same order
    assert np.array_equal(twin.incident_energy_gev, reference.incident_energy_gev)
    twin_file = write_showers(tmp_path / "twin.h5", twin)
    args = ["--reference", shards, "--twin", twin_file, "--geometry", planar_geometry, "--no-plots"]
    first = run(files["seed1"], *args, "--report", tmp_path / "a", "--jsd-units", "bits")
    assert first.exit_code == 0, first.output
    assert "from the cache" not in first.output and "JSD [bits]" in first.output
    data = json.loads((tmp_path / "a" / "results.json").read_text())
    assert data["reference"]["n_showers"] == 200 and data["settings"]["floor"] == "twin"
    assert "twin (floor)" in data["classifier"]
    second = run(files["other"], *args, "--report", tmp_path / "b")
    assert second.exit_code == 0, second.output
    assert second.output.count("measured features from the cache") == 2
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert again["distances"]["all"]["cell_energy"]["other"]["jsd"]["floor"] == pytest.approx(
        data["distances"]["all"]["cell_energy"]["seed1"]["jsd"]["floor"]
    )
    # a twin with other conditions is refused with a message, not a traceback
    wrong = run(
        files["seed1"], *args[:2], "--twin", files["wrong_energies"], *args[4:], "--report", tmp_path / "c"
    )
    assert wrong.exit_code != 0 and "twin" in wrong.output and "Traceback" not in wrong.output


def test_cli_small_samples_skip_the_classifier_with_a_message(files, planar_geometry, tmp_path):
    few = write_showers(tmp_path / "few.h5", calozoo.read_showers(files["seed1"])[:30])
    ref = write_showers(tmp_path / "ref.h5", calozoo.read_showers(files["reference"])[:30])
    result = run(
        few, "--reference", ref, "--geometry", planar_geometry, "--report", tmp_path / "r", "--no-plots"
    )
    assert result.exit_code == 0, result.output
    assert "classifier test skipped" in result.output and "--no-classifier" in result.output
    assert "fewer than 50 showers" in result.output


def test_cli_refuses_missing_files(files, planar_geometry, tmp_path):
    result = run(
        tmp_path / "nope.h5",
        "--reference",
        files["reference"],
        "--geometry",
        planar_geometry,
        "--report",
        tmp_path / "r",
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    result = run(
        files["seed1"],
        "--reference",
        tmp_path / "nope.h5",
        "--geometry",
        planar_geometry,
        "--report",
        tmp_path / "r",
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "r").exists()


def test_cli_refuses_mismatched_conditions(files, planar_geometry, tmp_path):
    result = run(
        files["wrong_energies"],
        "--reference",
        files["reference"],
        "--geometry",
        planar_geometry,
        "--report",
        tmp_path / "r",
    )
    assert result.exit_code == 1
    assert "incident conditions do not match the reference" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_cli_refuses_training_points_declared_projected(files, planar_geometry, tmp_path):
    result = run(
        files["seed1"],
        "--reference",
        files["reference"],
        "--geometry",
        planar_geometry,
        "--report",
        tmp_path / "r",
        "--projected",
    )
    assert result.exit_code == 1 and "not projected cell hits" in result.output


def test_cli_never_overwrites_a_folder_that_is_not_a_report(files, planar_geometry, tmp_path):
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    result = run(
        files["seed1"],
        "--reference",
        files["reference"],
        "--geometry",
        planar_geometry,
        "--report",
        precious,
        "--no-plots",
        "--no-classifier",
    )
    assert result.exit_code == 1 and "not an earlier report" in result.output
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_cli_bad_options(files, planar_geometry, tmp_path):
    common = ("--reference", files["reference"], "--geometry", planar_geometry, "--report", tmp_path / "r")
    result = run(files["seed1"], *common, "--energies", "ten")
    assert result.exit_code == 2 and "comma-separated energies" in result.output
    result = run(f"reference={files['seed1']}", *common)
    assert result.exit_code == 2 and "names the reference sample" in result.output


def test_report_without_plots_and_rewritten_in_place(files, tmp_path):
    from calozoo.io import read_showers

    reference, generated = read_showers(files["reference"]), read_showers(files["seed1"])
    result = evaluate(generated, reference, ild_like(), classifier=False, n_bootstrap=5)
    folder = tmp_path / "report"
    write_report(result, folder, plots=False)
    first = json.loads((folder / "results.json").read_text())
    assert "<img" not in (folder / "index.html").read_text() and not list((folder / "plots").iterdir())
    # an earlier report is replaced as a whole, atomically
    write_report(result, folder, plots=False)
    assert json.loads((folder / "results.json").read_text()) == first
    assert np.isclose(
        first["distances"]["all"]["visible_energy"]["generated"]["jsd"]["mean"],
        result.jsd("visible_energy")["mean"],
    )
    assert result.histogram("cell_energy").sum(flow=True).value == pytest.approx(
        sum(first["histograms"]["all"]["cell_energy"]["reference"]["values"])
    )


def test_the_command_plugs_into_a_click_group():
    import click

    group = click.Group("calozoo")
    group.add_command(evaluate_command)
    result = CliRunner().invoke(group, ["evaluate", "--help"])
    assert result.exit_code == 0
    assert "--reference" in result.output and "LABEL=GEN.h5" in result.output


def test_projected_files_are_recognised_without_the_flag(files, planar_geometry, tmp_path):
    """`calozoo project` records the geometry in the file: evaluate reads it, refuses a mix of cells and
    points, and cells of another geometry."""
    from calozoo.io import ShowerWriter

    geometry = ild_like()

    def project(name, into="ild-like"):
        showers = calozoo.read_showers(files[name])
        cells = geometry.project(showers).showers
        out = tmp_path / f"{name}-cells.h5"
        with ShowerWriter(out, len(cells), attrs={"projected_into": into, "threshold_mev": 0.1}) as writer:
            writer.write(cells)
        return out

    ref, gen = project("reference"), project("seed1")
    ok = run(gen, "--reference", ref, "--geometry", planar_geometry, "--report", tmp_path / "r", "--no-plots")
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "r" / "results.json").read_text())["settings"]["projected"] is True
    mixed = run(files["seed1"], "--reference", ref, "--geometry", planar_geometry, "--report", tmp_path / "m")
    assert mixed.exit_code != 0 and "compare like with like" in mixed.output
    other = project("seed2", into="ild-ecal-barrel")
    wrong = run(other, "--reference", ref, "--geometry", planar_geometry, "--report", tmp_path / "w")
    assert wrong.exit_code != 0 and "another geometry" in wrong.output
