"""A brand-new plugin package, pip-installed without network, appears and loads; a broken one is
reported by `calozoo doctor` while the others keep working."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FRESH_MODEL = '''
"""A third-party model: uniform points, numpy only."""
import numpy as np

from calozoo import Conditions, ShowerModel, Showers
from calozoo.seeding import shower_rngs


class FreshModel(ShowerModel):
    name = "fresh-model"

    @property
    def conditions(self):
        return Conditions(1.0, 50.0)

    def generate(self, energy_gev, direction, pdg, seeds):
        clouds = []
        for e, rng in zip(energy_gev, shower_rngs(seeds)):
            n = 10 + int(e)
            points = np.column_stack([rng.normal(0, 5, (n, 2)), rng.uniform(0, 30, n),
                                      np.full(n, 20.0 * e / n)])
            clouds.append(points)
        return Showers.from_point_lists(clouds, energy_gev, direction, pdg)


def make(path=None, **options):
    return FreshModel.load(path) if path else FreshModel()
'''

FRESH_PLUGIN = """
from calozoo import hookimpl


@hookimpl
def calozoo_register_models(register):
    register("fresh-model", "calozoo_fresh.model:make", summary="installed by the test")
"""

BROKEN_PLUGIN = """
raise RuntimeError("this plugin is broken on purpose")
"""


def _write_package(root: Path, dist: str, module: str, files: dict[str, str]) -> Path:
    package = root / dist
    (package / module).mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "1.2.3"
        dependencies = []

        [project.entry-points.calozoo]
        {dist} = "{module}.plugin"

        [tool.setuptools]
        packages = ["{module}"]
    ''')
    )
    (package / module / "__init__.py").write_text("")
    for name, body in files.items():
        (package / module / name).write_text(body)
    return package


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Install a good and a broken plugin into a private folder (used as PYTHONPATH)."""
    root = tmp_path_factory.mktemp("plugins")
    good = _write_package(
        root, "calozoo-fresh", "calozoo_fresh", {"plugin.py": FRESH_PLUGIN, "model.py": FRESH_MODEL}
    )
    bad = _write_package(root, "calozoo-broken", "calozoo_broken", {"plugin.py": BROKEN_PLUGIN})
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-build-isolation",
            "--no-deps",
            "--target",
            str(target),
            str(good),
            str(bad),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def _calozoo(site: Path, *args: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "calozoo", *args], capture_output=True, text=True, env=env)


def test_installed_plugin_is_listed(site):
    out = _calozoo(site, "list-models")
    assert out.returncode == 0, out.stderr
    assert "fresh-model" in out.stdout and "installed by the test" in out.stdout
    assert "calozoo-broken" in out.stderr  # the broken one is mentioned, not fatal


def test_installed_plugin_is_loadable_by_name(site):
    import os

    code = (
        "import calozoo; m = calozoo.load('fresh-model'); s = m.sample([5, 40], seed=3); "
        "print(type(m).__name__, s.num_points.tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FreshModel", "[15,", "50]"]


def test_doctor_reports_the_broken_plugin_and_the_good_one(site):
    out = _calozoo(site, "doctor")
    assert out.returncode == 1  # something is broken: scripts can tell
    assert "this plugin is broken on purpose" in out.stdout
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "broken" in lines["calozoo-broken"]
    assert " ok " in lines["calozoo-fresh"] and "1.2.3" in lines["calozoo-fresh"]
    assert "model:fresh-model" in lines["calozoo-fresh"]
