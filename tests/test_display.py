"""`calozoo show` and calozoo.display: an event display of one shower, written as PNG."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import calozoo
from calozoo.cli import main
from calozoo.display import ShowerIndexError, is_calozoo_display, read_one_shower, show_shower
from calozoo.errors import FileFormatError, OutputError
from calozoo.interfaces import MissingLayersWarning
from calozoo.layered import PlanarGeometry
from calozoo.showers import Showers


@pytest.fixture(scope="module")
def showers():
    return calozoo.load("toy-gamma").sample([20.0, 50.0, 80.0], [0.0, 0.5, 0.866025], seed=1)


@pytest.fixture
def shower_file(tmp_path, showers):
    return calozoo.write_showers(tmp_path / "showers.h5", showers)


def same(one, other):
    """The same shower, to the float32 rounding of a CaloClouds file."""
    assert len(one) == 1 and one.incident_energy_gev == pytest.approx(other.incident_energy_gev)
    np.testing.assert_allclose(one.points, other.points, rtol=1e-6, atol=1e-6)


def check_png(path, min_size=(400, 200)):
    with Image.open(path) as image:
        image.verify()  # a complete, uncorrupted PNG
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert min_size[0] <= width <= 4000 and min_size[1] <= height <= 3000 and width > height
    assert is_calozoo_display(path)


def test_a_shower_of_a_file_is_drawn_as_layer_maps_and_a_3d_view(shower_file, showers, tmp_path):
    out = tmp_path / "shower.png"
    figure = show_shower(shower_file, 1, path=out, dpi=40)
    check_png(out)
    panels = [ax for ax in figure.axes if ax.name != "3d" and ax.get_label() != "<colorbar>"]
    assert len([ax for ax in figure.axes if ax.name == "3d"]) == 1
    assert len(panels) >= 30  # one per layer (+ the colour bar's axes)
    title = figure.get_suptitle()
    assert "shower 1 of showers.h5" in title and "50 GeV" in title and "as they are" in title
    # only shower 1 was read, and it is the one drawn
    same(read_one_shower(shower_file, 1), showers[1])
    # calozoo replaces its own display, but nothing else
    show_shower(shower_file, 2, path=out, dpi=40)
    check_png(out)
    foreign = tmp_path / "mine.png"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n not calozoo's")
    with pytest.raises(OutputError, match="not an event display written by calozoo"):
        show_shower(shower_file, 0, path=foreign)
    assert foreign.read_bytes().endswith(b"not calozoo's")
    with pytest.raises(OutputError, match="ending in .png"):
        show_shower(shower_file, 0, path=tmp_path / "shower.pdf")


def test_with_a_geometry_the_cells_are_shown(showers, tmp_path):
    figure = show_shower(showers, 0, geometry="ild-ecal-regular")
    title = figure.get_suptitle()
    assert "projected into ild-ecal-regular" in title and "cells" in title and "below threshold" in title
    # a 10-layer planar geometry: the toy-gamma's 30 layers do not fit, and the projection says so
    short = PlanarGeometry(np.arange(10) * 6.5 + 3.0, cell_size_mm=5.0, threshold_mev=0.1, name="ten")
    out = tmp_path / "ten.png"
    with pytest.warns(MissingLayersWarning, match="ten has 10 layers"):
        figure = show_shower(showers, 2, geometry=short, path=out, dpi=40)
    check_png(out)
    assert "projected into ten" in figure.get_suptitle() and "outside the layers" in figure.get_suptitle()


def test_an_index_out_of_range_says_how_many_showers_there_are(shower_file, showers, tmp_path):
    with pytest.raises(ShowerIndexError, match=r"shower 3 is out of range: .*showers.h5 holds 3 showers"):
        show_shower(shower_file, 3)
    with pytest.raises(ShowerIndexError, match="holds 3 showers"):
        show_shower(shower_file, -1)
    with pytest.raises(ShowerIndexError, match="the batch holds 3 showers"):
        show_shower(showers, 7)
    # a folder of shards counts all of them; the shower is read from its own shard
    folder = tmp_path / "data"
    calozoo.write_showers(folder / "shard-00000.h5", showers[:2])
    calozoo.write_showers(folder / "shard-00001.h5", showers[2:])
    same(read_one_shower(folder, 2), showers[2])
    with pytest.raises(ShowerIndexError, match=r"holds 3 showers \(indices 0 to 2\)"):
        read_one_shower(folder, 3)


def test_raw_hits_are_shown_in_depth_slices_and_not_projected():
    rng = np.random.default_rng(1)
    hits = np.column_stack([rng.normal(0, 5, (200, 2)), rng.uniform(5, 200, 200), rng.exponential(1, 200)])
    raw = Showers.from_point_lists([hits, np.zeros((0, 4))], [10.0, 1.0], z_units="mm")
    assert "raw hits as they are: 200 points" in show_shower(raw, 0).get_suptitle()
    assert "0 points" in show_shower(raw, 1).get_suptitle()  # an empty shower is drawn, empty
    with pytest.raises(ValueError, match="calozoo preprocess"):
        show_shower(raw, 0, geometry="ild-ecal-regular")


def test_a_bad_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not a shower file")
    with pytest.raises(FileFormatError, match="notes.h5"):
        show_shower(bad, 0)


def test_calozoo_show_writes_the_png_and_reports_errors_in_one_line(shower_file, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cells.png"
    args = ["show", str(shower_file), "--index", "2", "--geometry", "ild-ecal-regular", "--dpi", "30"]
    result = runner.invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "ild-ecal-regular" in result.output
    check_png(out, min_size=(300, 150))

    result = runner.invoke(main, ["show", str(shower_file), "--index", "9", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "holds 3 showers" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    result = runner.invoke(main, ["show", str(bad), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "bad.h5" in result.output
    assert not (tmp_path / "x.png").exists()
