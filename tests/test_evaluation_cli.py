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
    assert "report written to" in result.output and "classifier AUC" in result.output
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
    assert "<table>" in page and "Jensen-Shannon divergence, all energies" in page
    markdown = (report / "index.md").read_text()
    assert "| total visible energy |" in markdown and "![" in markdown


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
