"""Plugin discovery: registrations, broken plugins, conflicts, unknown names, lazy imports."""

import subprocess
import sys

import pytest
from blob_models import BlobModel, BlobPlugin

import calozoo
from calozoo import hookimpl
from calozoo.errors import AmbiguousNameError, PluginLoadError, UnknownNameError
from calozoo.registry import Registry

ROOT_TESTS = __import__("pathlib").Path(__file__).resolve().parent


class BrokenHookPlugin:
    @staticmethod
    @hookimpl
    def calozoo_register_models(register):
        raise RuntimeError("the hook fell over")


class BadFactoryPlugin:
    @staticmethod
    @hookimpl
    def calozoo_register_models(register):
        register("ghost", "no_such_module_anywhere:make", summary="factory cannot be imported")


class DuplicatePlugin:
    @staticmethod
    @hookimpl
    def calozoo_register_models(register):
        register("blob", "blob_models:load_blob", summary="a second blob")


def test_builtins_register_through_the_hooks():
    reg = Registry().discover(entry_points=False)
    assert "energy-scale" in reg.names("calibrator")
    assert reg.plugins["calozoo"].ok
    assert "calibrator:energy-scale" in reg.plugins["calozoo"].registered


def test_load_by_name_gives_a_working_model(blob_registry):
    assert [r.name for r in calozoo.list_models()] == ["blob"]
    assert [r.name for r in calozoo.list_geometries()] == ["flat"]
    assert calozoo.geometry("flat", threshold_mev=0.1).threshold_mev == 0.1
    model = calozoo.load("blob", points_per_gev=2.0)
    assert isinstance(model, BlobModel) and model.points_per_gev == 2.0
    assert len(model.sample([10, 20], seed=1)) == 2


def test_load_from_a_saved_folder(blob_registry, tmp_path):
    BlobModel(points_per_gev=3.0).save(tmp_path / "m")
    assert calozoo.load("blob", path=tmp_path / "m").points_per_gev == 3.0


def test_unknown_name_suggests_close_matches(blob_registry):
    with pytest.raises(UnknownNameError) as err:
        calozoo.load("blbo")
    message = str(err.value)
    assert "'blob'" in message and "Did you mean" in message
    with pytest.raises(UnknownNameError, match="energy-scale"):
        calozoo.calibrator("energy_scale")
    with pytest.raises(UnknownNameError, match="Installed geometries: flat"):
        calozoo.geometry("ild-ecal-barrel")


def test_unknown_variant_is_refused(blob_registry):
    with pytest.raises(ValueError, match="no variant 'fast'"):
        calozoo.load("blob", variant="fast")


def test_a_broken_hook_is_reported_and_hides_nothing():
    reg = Registry().discover(entry_points=False)
    reg.add_plugin(BrokenHookPlugin(), "broken")
    reg.add_plugin(BlobPlugin(), "blob-plugin")
    assert not reg.plugins["broken"].ok
    assert "the hook fell over" in reg.plugins["broken"].error
    assert reg.names("model") == ["blob"]


def test_a_factory_that_cannot_be_imported_fails_on_load_not_on_listing():
    reg = Registry().discover(entry_points=False)
    reg.add_plugin(BadFactoryPlugin(), "bad-factory")
    assert reg.names("model") == ["ghost"]
    with pytest.raises(PluginLoadError, match="no_such_module_anywhere"):
        reg.get("model", "ghost").create()


def test_a_name_registered_twice_is_refused_until_qualified():
    """A third-party package cannot silently replace a model: the plain name is ambiguous and refused,
    naming both plugins; ``plugin:name`` chooses."""
    reg = Registry().discover(entry_points=False)
    reg.add_plugin(BlobPlugin(), "first")
    reg.add_plugin(DuplicatePlugin(), "second")
    with pytest.raises(AmbiguousNameError, match="'first', 'second'.*first:blob or second:blob"):
        reg.get("model", "blob")
    assert reg.get("model", "first:blob").plugin == "first"
    assert reg.get("model", "second:blob").summary == "a second blob"
    assert reg.find("second:blob").plugin == "second"
    assert "first:blob" in reg.names("model") and "blob" not in reg.names("model")
    assert any("the plain name is refused" in p for p in reg.problems)
    with pytest.raises(UnknownNameError):
        reg.get("model", "third:blob")


def test_model_options_are_checked_and_typed_from_the_factory():
    """`-O extrapolate=no` means False, an unknown option lists the accepted ones."""
    from calozoo.options import OptionError, parse_option_values

    def factory(path=None, extrapolate: bool = False, steps: int = 3, scale: float = 1.0, label: str = "x"):
        return None

    typed = parse_option_values("model 'm'", factory, {"extrapolate": "no", "steps": "5", "scale": "2.5"})
    assert typed == {"extrapolate": False, "steps": 5, "scale": 2.5}
    assert parse_option_values("model 'm'", factory, {"extrapolate": "True", "label": "7"}) == {
        "extrapolate": True,
        "label": "7",
    }
    with pytest.raises(OptionError, match="expected true or false"):
        parse_option_values("model 'm'", factory, {"extrapolate": "maybe"})
    with pytest.raises(OptionError, match="whole number"):
        parse_option_values("model 'm'", factory, {"steps": "1.5"})
    with pytest.raises(OptionError, match="no option 'extrapolat'.*extrapolate \\(bool, default False\\)"):
        parse_option_values("model 'm'", factory, {"extrapolat": "no"})
    with pytest.raises(OptionError, match="no option 'hidden'"):
        calozoo.load("toyflow", hidden=8)


def test_factories_must_be_import_strings():
    class Eager:
        @staticmethod
        @hookimpl
        def calozoo_register_models(register):
            register("eager", BlobModel)

    reg = Registry().discover(entry_points=False)
    reg.add_plugin(Eager(), "eager")
    assert "import string" in reg.plugins["eager"].error


def test_listing_models_does_not_import_torch():
    """With every installed plugin (the toy flow included), listing must stay light."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from calozoo.cli import main\n"
        "result = CliRunner().invoke(main, ['list-models'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('torch', 'normflows', 'diffusers', 'h5py') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class TypoPlugin:
    @staticmethod
    @hookimpl
    def calozoo_register_model(register):  # the hook is calozoo_register_models
        register("typo", "blob_models:load_blob")


class RaisingFactoryPlugin:
    @staticmethod
    @hookimpl
    def calozoo_register_models(register):
        register("raiser", "test_registry:raising_factory")


def raising_factory(path=None):
    raise RuntimeError("the weights are not where I expected")


def test_a_hook_name_with_a_typo_is_reported_not_ok():
    reg = Registry().discover(entry_points=False)
    info = reg.add_plugin(TypoPlugin(), "typo-plugin")
    assert not info.ok and "did you mean calozoo_register_models" in info.error


def test_a_factory_that_raises_is_a_calozoo_error_naming_the_plugin(monkeypatch):
    reg = Registry().discover(entry_points=False)
    reg.add_plugin(RaisingFactoryPlugin(), "raising")
    monkeypatch.setattr("calozoo.registry._REGISTRY", reg)
    with pytest.raises(PluginLoadError, match="plugin 'raising'.*RuntimeError: the weights are not"):
        calozoo.load("raiser")


def test_a_plugin_that_prints_on_import_does_not_break_json_listing(tmp_path):
    """Its output goes to stderr: `calozoo list-models --json` stays valid JSON."""
    import json

    (tmp_path / "noisy_plugin.py").write_text(
        "import calozoo\nprint('hello from a noisy plugin')\n"
        "@calozoo.hookimpl\ndef calozoo_register_models(register):\n"
        "    register('noisy', 'blob_models:load_blob')\n"
    )
    dist = tmp_path / "noisy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: noisy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[calozoo]\nnoisy = noisy_plugin\n")
    tests = str(ROOT_TESTS)
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{tests}"}
    result = subprocess.run(
        [sys.executable, "-m", "calozoo", "list-models", "--json"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    names = [m["name"] for m in json.loads(result.stdout)]
    assert "noisy" in names and "hello from a noisy plugin" in result.stderr
