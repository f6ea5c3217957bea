"""The worked example of docs/geometry-plugins.md works as the guide says: pip-installed (no
network), its geometries are listed, `calozoo project` projects into them, and its own tests
(the geometry kit, one test per check, and its gaps and edges) pass."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calozoo.io import read_showers, write_showers
from calozoo.showers import Showers

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "geometry-plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example built from a copy (the docs folder stays clean) into a private folder."""
    root = tmp_path_factory.mktemp("guide")
    source = root / "geometry-plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", "--no-deps"]
        + ["--target", str(target), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def _run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_the_installed_geometries_are_listed(site):
    out = _run(site, "-m", "calozoo", "list-geometries")
    assert out.returncode == 0, out.stderr
    assert "sampling-calo " in out.stdout and "sampling-calo-flat" in out.stdout
    assert "three 200 mm modules" in out.stdout


def test_calozoo_project_projects_into_the_example(site, tmp_path):
    rng = np.random.default_rng(1)
    lists = [np.column_stack([rng.normal(0, 8, (300, 2)), rng.uniform(0, 20, 300), np.full(300, 0.1)])] * 3
    write_showers(tmp_path / "points.h5", Showers.from_point_lists(lists, [10.0, 20.0, 30.0]))
    args = [str(tmp_path / "points.h5"), "-o", str(tmp_path / "cells.h5"), "--geometry", "sampling-calo"]
    out = _run(site, "-m", "calozoo", "project", *args)
    assert out.returncode == 0, out.stderr
    cells = read_showers(tmp_path / "cells.h5")
    assert len(cells) == 3 and cells.z_units == "layer"
    z = cells.points[..., 2][cells.padding_mask]
    assert np.allclose(z % 1, 0.5) and z.max() < 20  # cell centres in its 20 layers
    # 10 mm cells: in the central module every cell centre is on the 10 mm grid shifted by half a cell
    x = cells.points[..., 0][cells.padding_mask]
    offset = (x[np.abs(x) < 100] - 5.0) % 10.0
    assert len(offset) and np.all((offset < 1e-3) | (offset > 10.0 - 1e-3))


def test_the_example_passes_its_own_tests_and_the_geometry_kit(site, tmp_path):
    tests = tmp_path / "tests"
    shutil.copytree(EXAMPLE / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    out = _run(site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tests))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "15 passed" in out.stdout, out.stdout  # 2 x 7 checks of the kit, and 1 of its own
