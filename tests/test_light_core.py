"""The core works without torch: ``pip install calozoo`` brings no torch, normflows or diffusers.

Every check runs in a subprocess where those three cannot be imported (a ``sitecustomize`` on
``PYTHONPATH`` puts a finder first on ``sys.meta_path`` that refuses them), with a numpy-only
model plugin pip-installed (no network) into a private folder. There the whole numpy path
works: import, listing every installed plugin, loading and sampling the new model, projecting
into the ILD barrel, writing and reading HDF5, and evaluating with the default classifier;
torch is never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

BLOCKED = ("torch", "normflows", "diffusers")

BLOCKER = f'''
"""Test helper: make {", ".join(BLOCKED)} impossible to import, as if they were not installed."""
import sys

BLOCKED = {set(BLOCKED)!r}


class _BlockHeavy:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _BlockHeavy())
'''

LIGHT_MODEL = '''
"""A third-party model with numpy only: Gaussian points spread over the layers."""
import numpy as np

import calozoo.seeding
from calozoo import Conditions, ShowerModel, Showers


class LightModel(ShowerModel):
    name = "light-model"

    @property
    def conditions(self):
        return Conditions(1.0, 100.0)

    def generate(self, energy_gev, direction, pdg, seeds):
        # Works with the old contract (one numpy Generator per batch) and the new (one seed per shower).
        if isinstance(seeds, np.random.Generator):
            rngs = [seeds] * len(energy_gev)
        else:
            rngs = calozoo.seeding.shower_rngs(seeds)
        clouds = []
        for e, rng in zip(energy_gev, rngs):
            n = 50 + int(5 * e)
            points = np.column_stack(
                [rng.normal(0, 10, (n, 2)), rng.uniform(0, 29.99, n), np.full(n, 20.0 * e / n)]
            )
            clouds.append(points)
        return Showers.from_point_lists(clouds, energy_gev, direction, pdg)


def make(path=None, **options):
    return LightModel.load(path) if path else LightModel()
'''

LIGHT_PLUGIN = """
from calozoo import hookimpl


@hookimpl
def calozoo_register_models(register):
    register("light-model", "calozoo_light.model:make", summary="numpy only, from the light-core test")
"""

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "calozoo-light"
version = "0.0.1"
dependencies = ["calozoo", "numpy"]

[project.entry-points.calozoo]
light = "calozoo_light.plugin"

[tool.setuptools]
packages = ["calozoo_light"]
"""

# What runs without torch: sample, project into the real barrel, HDF5 round trip, evaluate.
WORKFLOW = """
import json, sys
from pathlib import Path

import numpy as np

import calozoo
from calozoo.evaluation import evaluate

out = Path(sys.argv[1])
model = calozoo.load("light-model")
energies = np.repeat([10.0, 50.0], 100)
generated = model.sample(energies, seed=1)
reference = model.sample(energies, seed=2)
assert len(generated) == 200 and generated.num_points.min() >= 100
again = model.sample(energies, seed=1)
assert np.array_equal(again.num_points, generated.num_points)

barrel = calozoo.geometry("ild-ecal-barrel")
cells = barrel.project(generated)
assert len(cells) == len(generated)

calozoo.write_showers(out / "generated.h5", generated)
calozoo.write_showers(out / "reference.h5", reference)
back = calozoo.read_showers(out / "generated.h5")
assert np.array_equal(back.num_points, generated.num_points)
assert np.allclose(back.incident_energy_gev, generated.incident_energy_gev)

result = evaluate({"light": back}, calozoo.read_showers(out / "reference.h5"), barrel, seed=0)
auc = [r["auc"] for c in result.classifier.values() for r in c["runs"]]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "normflows", "diffusers"))
print(json.dumps({"auc": auc, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """The environment of a torch-less process: the blocker first on PYTHONPATH, then the plugin."""
    root = tmp_path_factory.mktemp("light")
    (root / "blocker").mkdir()
    (root / "blocker" / "sitecustomize.py").write_text(BLOCKER)
    package = root / "calozoo-light"
    (package / "calozoo_light").mkdir(parents=True)
    (package / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (package / "calozoo_light" / "__init__.py").write_text("")
    (package / "calozoo_light" / "plugin.py").write_text(LIGHT_PLUGIN)
    (package / "calozoo_light" / "model.py").write_text(LIGHT_MODEL)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation"]
        + ["--no-deps", "--target", str(target), str(package)],
        check=True,
        capture_output=True,
        text=True,
    )
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "blocker"), str(target)])}


def _python(env, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, **kwargs)


def test_the_blocker_blocks(env):
    for name in BLOCKED:
        out = _python(env, "-c", f"import {name}")
        assert out.returncode == 1, f"{name} could be imported: the test would prove nothing"
        assert f"No module named '{name}' (blocked by the test)" in out.stderr
    out = _python(env, "-c", "import torch.nn")
    assert "ModuleNotFoundError" in out.stderr
    assert _python(env, "-c", "import numpy, h5py, calozoo_light").returncode == 0  # only those three


def _listed(env, command: str) -> set[str]:
    out = _python(env, "-m", "calozoo", command)
    assert out.returncode == 0, out.stderr
    return {line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()}


def test_import_and_list_without_torch(env):
    out = _python(env, "-c", "import calozoo, sys; print(calozoo.__version__, 'torch' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "False"

    out = _python(env, "-m", "calozoo", "list-models")
    assert out.returncode == 0, out.stderr
    assert "light-model" in out.stdout and "numpy only, from the light-core test" in out.stdout
    assert "torch" not in out.stderr, out.stderr  # no plugin failed for want of torch

    # Every installed plugin registers the same without torch: registration modules are light,
    # even those of models (caloclouds3, caloclouds2, toyflow) that import torch when loaded.
    with_torch = {**env, "PYTHONPATH": env["PYTHONPATH"].split(os.pathsep, 1)[1]}
    for command in ("list-models", "list-geometries"):
        assert _listed(env, command) == _listed(with_torch, command)
    assert "ild-ecal-barrel" in _listed(env, "list-geometries")


def test_doctor_without_torch_sees_every_plugin_as_it_is_with_torch(env):
    def statuses(environment):
        out = _python(environment, "-m", "calozoo", "doctor")
        table = out.stdout.split("\n\n")[1].splitlines()[1:]
        return {line.split()[0]: line.split()[3] for line in table}, out

    with_torch = {**env, "PYTHONPATH": env["PYTHONPATH"].split(os.pathsep, 1)[1]}
    blocked, out = statuses(env)
    assert blocked == statuses(with_torch)[0], out.stdout
    assert blocked["light"] == "ok"
    assert "calozoo-engine" in out.stdout  # the package that brings torch is listed (here or not)


def test_sample_project_write_and_evaluate_without_torch(env, tmp_path):
    out = _python(env, "-c", WORKFLOW, str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []  # nothing imported torch, normflows or diffusers, not even lazily
    assert result["auc"] and all(0.0 <= auc <= 1.0 for auc in result["auc"])

    # The command line does the same: evaluate writes its report with the default classifier.
    report = tmp_path / "report"
    out = _python(
        env,
        "-m",
        "calozoo",
        "evaluate",
        str(tmp_path / "generated.h5"),
        "--reference",
        str(tmp_path / "reference.h5"),
        "--geometry",
        "ild-ecal-barrel",
        "--report",
        str(report),
        "--no-plots",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert (report / "results.json").is_file()
    assert "classifier" in json.loads((report / "results.json").read_text())


def test_the_dnn_classifier_says_what_to_install(env):
    code = (
        "import numpy as np\n"
        "from calozoo.evaluation.classifier import classifier_test, TorchMissingError\n"
        "from calozoo.errors import CalozooError\n"
        "x = np.random.default_rng(0).normal(size=(400, 4)); e = np.full(400, 10.0)\n"
        "try:\n"
        "    classifier_test(x, x + 1, reference_energy_gev=e, generated_energy_gev=e, n_conditions=1,"
        " kind='dnn')\n"
        "except CalozooError as err:\n"
        "    assert isinstance(err, ImportError) and isinstance(err, TorchMissingError)\n"
        "    print(err)\n"
    )
    out = _python(env, "-c", code)
    assert out.returncode == 0, out.stderr
    assert "pip install calozoo-engine" in out.stdout and "gradient-boosting" in out.stdout
