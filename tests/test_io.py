"""Tests of calozoo.io: files written by plain h5py / showerdata are read right, round trips are
exact, writes are atomic and every malformed file gives a FileFormatError naming file and key."""

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import showerdata
import showerdata.core

import calozoo
from calozoo.errors import FileFormatError
from calozoo.io import (
    FORMATS,
    VoxelShowers,
    detect_format,
    read_calochallenge,
    read_conditions,
    read_showers,
    write_calochallenge,
    write_showers,
)
from calozoo.showers import Showers

# Point energies k * 1000/1024 MeV are k/1024 GeV: both exact in float32, so files written in GeV
# by hand can be compared exactly with showers built in MeV (and float32 round trips are exact).
MEV_STEP = 1000 / 1024
COUNTS = [5, 0, 3, 7]


def _unit(v):
    """A float32-exact direction (as stored in files), normalised to float32 precision."""
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32).astype(np.float64)


def make_showers(counts=COUNTS, seed=0, z_units="layer") -> Showers:
    rng = np.random.default_rng(seed)
    clouds = []
    for n in counts:
        xy = rng.normal(0.0, 20.0, (n, 2))
        z = rng.uniform(0.0, 30.0, (n, 1))
        e = rng.integers(1, 2000, (n, 1)) * MEV_STEP
        clouds.append(np.hstack([xy, z, e]).astype(np.float32))
    directions = _unit(rng.normal(0.0, 0.3, (len(counts), 3)) + [0.0, 0.0, 1.0])
    energies = np.array([10.0, 42.5, 90.25, 1.5, 7.0, 3.25])[: len(counts)]
    pdg = [22, 11, 22, -11, 22, 22][: len(counts)]
    return Showers.from_point_lists(clouds, energies, directions, pdg, z_units)


def caloclouds_arrays(showers: Showers, padding="back", width=None, seed=1) -> np.ndarray:
    """(N, P, 4) in GeV with the real points placed as asked: padding at the back, front or mixed."""
    rng = np.random.default_rng(seed)
    width = width or int(showers.num_points.max()) + 3
    events = np.zeros((len(showers), width, 4), dtype=np.float32)
    for i, cloud in enumerate(showers):
        gev = cloud.copy()
        gev[:, 3] /= 1000
        if padding == "back":
            slots = np.arange(len(cloud))
        elif padding == "front":
            slots = np.arange(width - len(cloud), width)
        else:  # mixed: padding before, between and after, in order
            slots = np.sort(rng.choice(width, len(cloud), replace=False))
        events[i, slots] = gev
    return events


def write_h5(path: Path, datasets: dict, attrs: dict | None = None) -> Path:
    with h5py.File(path, "w") as file:
        for key, value in datasets.items():
            file.create_dataset(key, data=value)
        file.attrs.update(attrs or {})
    return path


# ---------------------------------------------------------------------- CaloClouds written by hand
@pytest.mark.parametrize("axis_order", ["N4P", "NP4"])
@pytest.mark.parametrize("padding", ["back", "front", "mixed"])
def test_reads_caloclouds_padding_and_axis_orders(tmp_path, padding, axis_order):
    expected = make_showers()
    events = caloclouds_arrays(expected, padding)
    if axis_order == "N4P":
        events = events.transpose(0, 2, 1)
    path = write_h5(
        tmp_path / "cc.h5",
        {
            "events": events,
            "energy": expected.incident_energy_gev[:, None],
            "p_norm_local": expected.direction.astype(np.float32),
            "pdg": expected.pdg,
        },
    )
    got = read_showers(path)
    assert detect_format(path) == "caloclouds"
    np.testing.assert_array_equal(got.num_points, COUNTS)
    assert got.points.shape == (4, 7, 4)  # trimmed to the longest shower
    assert got == expected
    assert got.z_units == "layer"


@pytest.mark.parametrize("padding", ["mixed", "back"])
def test_padding_with_junk_coordinates_matches_a_loop(tmp_path, padding):
    rng = np.random.default_rng(7)
    events = rng.normal(size=(60, 25, 4)).astype(np.float32)
    events[..., 3] = np.abs(events[..., 3])
    events[rng.random((60, 25)) < 0.5, 3] = 0.0  # padding rows keep junk x, y, z: must be dropped
    if padding == "back":
        order = np.argsort(events[..., 3] == 0, axis=1, kind="stable")
        events = np.take_along_axis(events, order[..., None], axis=1)
    path = write_h5(tmp_path / "cc.h5", {"events": events, "energy": np.ones(60)})
    got = read_showers(path)
    for i in range(60):
        real = events[i, events[i, :, 3] != 0]
        want = real.astype(np.float64)
        want[:, 3] *= 1000
        np.testing.assert_array_equal(got.shower(i), want.astype(np.float32))
    assert not np.any(got.points[~got.padding_mask])  # padding exactly zero


@pytest.mark.parametrize("shape", ["N", "N1", "1N"])
def test_reads_caloclouds_energy_shapes(tmp_path, shape):
    expected = make_showers()
    energy = {"N": expected.incident_energy_gev, "N1": expected.incident_energy_gev[:, None]}.get(
        shape, expected.incident_energy_gev[None, :]
    )
    path = write_h5(tmp_path / "cc.h5", {"events": caloclouds_arrays(expected), "energy": energy})
    got = read_showers(path, format="caloclouds")
    np.testing.assert_array_equal(got.incident_energy_gev, expected.incident_energy_gev)
    np.testing.assert_array_equal(got.direction, np.tile([0.0, 0.0, 1.0], (4, 1)))  # default
    np.testing.assert_array_equal(got.pdg, [22] * 4)  # default: photons


@pytest.mark.parametrize("orientation", ["N3", "3N"])
def test_reads_caloclouds_direction_orientations(tmp_path, orientation):
    expected = make_showers()
    direction = expected.direction if orientation == "N3" else expected.direction.T
    path = write_h5(
        tmp_path / "cc.h5",
        {
            "events": caloclouds_arrays(expected),
            "energy": expected.incident_energy_gev,
            "p_norm_local": direction,
        },
    )
    np.testing.assert_array_equal(read_showers(path).direction, expected.direction)


def test_nearly_unit_directions_are_normalised(tmp_path):
    expected = make_showers()
    path = write_h5(
        tmp_path / "cc.h5",
        {
            "events": caloclouds_arrays(expected),
            "energy": expected.incident_energy_gev,
            "p_norm_local": expected.direction * 1.0008,  # inside the 1e-3 tolerance
        },
    )
    got = read_showers(path)
    np.testing.assert_allclose(np.linalg.norm(got.direction, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got.direction, expected.direction, rtol=1e-7)  # stored ones: float32


@pytest.mark.parametrize(("attrs", "want"), [({}, "N4P"), ({"axis_order": "NP4"}, "NP4")])
def test_four_points_axis_order_from_attribute(tmp_path, attrs, want):
    expected = make_showers(counts=[4, 2])
    events = caloclouds_arrays(expected, width=4)  # (N, 4, 4): both orders fit
    if want == "N4P":
        events = events.transpose(0, 2, 1)
    path = write_h5(tmp_path / "cc.h5", {"events": events, "energy": [10.0, 42.5]}, attrs)
    got = read_showers(path)
    np.testing.assert_array_equal(got.points, expected.points)


def test_z_units_attribute_is_honoured(tmp_path):
    expected = make_showers(z_units="mm")
    path = write_h5(
        tmp_path / "cc.h5",
        {"events": caloclouds_arrays(expected).transpose(0, 2, 1), "energy": expected.incident_energy_gev},
        {"z_units": "mm"},
    )
    assert read_showers(path).z_units == "mm"


# ---------------------------------------------------------------------- showerdata and CaloChallenge
@pytest.mark.parametrize("features", [4, 5])
def test_reads_a_file_written_by_showerdata(tmp_path, features):
    expected = make_showers()
    points = np.zeros((4, 7, features), dtype=np.float32)
    points[..., :4] = expected.points
    points[..., 3] /= 1000
    if features == 5:
        points[..., 4] = np.where(expected.padding_mask, 3.5, 0.0)  # a time column, dropped on read
    data = showerdata.Showers(
        points=points,
        energies=expected.incident_energy_gev[:, None],
        pdg=expected.pdg,
        directions=expected.direction,
        num_points=expected.num_points,
    )
    path = tmp_path / "sd.h5"
    showerdata.save(data, path)
    assert detect_format(path) == "showerdata"
    assert read_showers(path) == expected


def test_showerdata_metadata_restores_z_units(tmp_path):
    path = tmp_path / "sd.h5"
    showerdata.save(make_showers().to_showerdata(), path)
    showerdata.core.add_metadata(path, {"z_units": "mm"})
    assert read_showers(path).z_units == "mm"


def test_reads_calochallenge_written_by_hand(tmp_path):
    rng = np.random.default_rng(3)
    voxels = rng.exponential(5.0, (6, 368)).astype(np.float32)
    voxels[voxels < 4] = 0
    incident_mev = np.array([[256.0], [1024.0], [2000.0], [65536.0], [4.0e6], [1.0e3]], dtype=np.float32)
    path = write_h5(tmp_path / "cc2.h5", {"incident_energies": incident_mev, "showers": voxels})
    assert detect_format(path) == "calochallenge"
    got = read_calochallenge(path)
    np.testing.assert_array_equal(got.energies_mev, voxels)
    np.testing.assert_allclose(
        got.incident_energy_gev, incident_mev[:, 0].astype(np.float64) / 1000, rtol=1e-15
    )
    assert got.incident_energy_gev.dtype == np.float64 and len(got) == 6 and got.num_voxels == 368
    with pytest.raises(FileFormatError, match="read_calochallenge"):
        read_showers(path)


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "options", [{}, {"axis_order": "NP4"}, {"dtype": "float64"}], ids=["default", "NP4", "float64"]
)
def test_caloclouds_round_trip(tmp_path, options):
    showers = make_showers()
    path = write_showers(tmp_path / "cc.h5", showers, "caloclouds", **options)
    assert read_showers(path) == showers


def test_caloclouds_layout_on_disk(tmp_path):
    showers = make_showers(z_units="mm")
    path = write_showers(tmp_path / "cc.h5", showers)  # caloclouds by default
    with h5py.File(path) as file:
        assert file["events"].shape == (4, 4, 7) and file["events"].dtype == np.float32
        assert file["energy"].shape == (4, 1) and file["p_norm_local"].shape == (4, 3)
        np.testing.assert_array_equal(file["pdg"][()], showers.pdg)
        np.testing.assert_allclose(file["events"][:, 3].sum(axis=1), showers.visible_energy_mev / 1000)
        assert file.attrs["z_units"] == "mm" and file.attrs["axis_order"] == "N4P"
        assert file.attrs["calozoo_version"] == calozoo.__version__


def test_float32_caloclouds_is_within_one_float32_step(tmp_path):
    # Generic MeV values do not all survive float32 GeV storage; float64 files are exact.
    rng = np.random.default_rng(5)
    showers = Showers.from_point_lists([rng.uniform(0.01, 50, (2000, 4)).astype(np.float32)], [50.0])
    got = read_showers(write_showers(tmp_path / "a.h5", showers))
    np.testing.assert_allclose(got.points, showers.points, rtol=2**-23, atol=0)
    assert read_showers(write_showers(tmp_path / "b.h5", showers, dtype="float64")) == showers


@pytest.mark.parametrize("z_units", ["layer", "mm"])
def test_showerdata_round_trip(tmp_path, z_units):
    showers = make_showers(z_units=z_units)
    path = write_showers(tmp_path / "sd.h5", showers, format="showerdata")
    assert showerdata.core.load_metadata(path)["z_units"] == z_units
    assert showerdata.load(path).points.shape == (4, 7, 4)  # a real showerdata file
    if z_units == "mm":
        assert read_showers(path) == showers
    else:  # z in showerdata's layer convention on disk, mapped back to float32 precision
        assert read_showers(path).allclose(showers, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", ["caloclouds", "showerdata"])
def test_empty_and_four_point_round_trips(tmp_path, fmt):
    for showers in (Showers.empty(), make_showers(counts=[4, 1])):
        path = write_showers(tmp_path / f"{fmt}.h5", showers, format=fmt)
        assert read_showers(path).allclose(showers, rtol=0, atol=1e-5 if fmt == "showerdata" else 0)


def test_calochallenge_round_trip(tmp_path):
    voxels = VoxelShowers(np.arange(12, dtype=np.float32).reshape(3, 4), [1.0, 2.048, 65.536])
    path = write_calochallenge(tmp_path / "cc2.h5", voxels)
    with h5py.File(path) as file:
        np.testing.assert_allclose(file["incident_energies"][()], [[1000.0], [2048.0], [65536.0]])
    assert read_calochallenge(path) == voxels


def test_voxel_showers_container():
    voxels = VoxelShowers(np.arange(12).reshape(4, 3), [1, 2, 3, 4])
    assert voxels.energies_mev.dtype == np.float32 and len(voxels) == 4
    assert voxels[1] == VoxelShowers([[3, 4, 5]], [2.0])
    assert voxels[-1] == voxels[3:]
    assert voxels[[2, 0]] == VoxelShowers([[6, 7, 8], [0, 1, 2]], [3, 1])
    assert voxels[np.array([True, False, False, True])] == voxels[[0, 3]]
    assert voxels != voxels[:3] and voxels != "voxels"
    with pytest.raises(IndexError):
        voxels[4]
    with pytest.raises(ValueError, match="incident_energy_gev"):
        VoxelShowers(np.zeros((2, 3)), [1.0])
    with pytest.raises(ValueError, match=r"\(N, V\)"):
        VoxelShowers(np.zeros(3), [1.0, 2.0, 3.0])


# ---------------------------------------------------------------------- write arguments
def test_write_rejects_bad_arguments(tmp_path):
    showers = make_showers()
    with pytest.raises(ValueError, match="write_calochallenge"):
        write_showers(tmp_path / "x.h5", showers, format="calochallenge")
    with pytest.raises(TypeError, match="axis_order"):
        write_showers(tmp_path / "x.h5", showers, compression="gzip")
    with pytest.raises(TypeError, match="none"):
        write_showers(tmp_path / "x.h5", showers, format="showerdata", axis_order="NP4")
    with pytest.raises(ValueError, match="axis_order"):
        write_showers(tmp_path / "x.h5", showers, axis_order="PN4")
    with pytest.raises(TypeError):
        write_showers(tmp_path / "x.h5", showers.points)
    with pytest.raises(ValueError, match="read_calochallenge"):
        read_showers(tmp_path / "x.h5", format="calochallenge")
    zero = Showers.from_point_lists([np.array([[1.0, 2.0, 3.0, 0.0]])], [10.0])
    with pytest.raises(ValueError, match="zero energy"):
        write_showers(tmp_path / "x.h5", zero)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- atomic writes
def _failing_create_dataset(monkeypatch):
    """Make the second dataset of any HDF5 write raise, leaving a half-written temporary file."""
    original = h5py.Group.create_dataset
    calls = []

    def create_dataset(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    return calls


WRITERS = {
    "caloclouds": lambda path: write_showers(path, make_showers(), "caloclouds"),
    "showerdata": lambda path: write_showers(path, make_showers(), "showerdata"),
    "calochallenge": lambda path: write_calochallenge(path, VoxelShowers(np.ones((2, 5)), [1.0, 2.0])),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, fmt, existing):
    path = tmp_path / "out.h5"
    if existing:  # an earlier result (calozoo replaces only a shower file it wrote)
        write_showers(path, make_showers([2], seed=9))
        previous = path.read_bytes()
    calls = _failing_create_dataset(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        WRITERS[fmt](path)
    assert len(calls) == 2  # it really failed mid-way
    assert [p.name for p in tmp_path.iterdir()] == (["out.h5"] if existing else [])
    if existing:
        assert path.read_bytes() == previous


def test_showerdata_metadata_failure_is_atomic(tmp_path, monkeypatch):
    def add_metadata(path, metadata):
        raise OSError("interrupted")

    monkeypatch.setattr(showerdata.core, "add_metadata", add_metadata)
    with pytest.raises(OSError, match="interrupted"):
        write_showers(tmp_path / "sd.h5", make_showers(), format="showerdata")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_replaces_and_leaves_no_partial(tmp_path):
    path = tmp_path / "out.h5"
    write_calochallenge(path, VoxelShowers(np.ones((2, 5)), [1.0, 2.0]))  # a calozoo file, of voxels
    write_showers(path, make_showers())
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]
    assert read_showers(path) == make_showers()
    (tmp_path / "empty.h5").touch()  # an empty file holds nothing to lose
    write_showers(tmp_path / "empty.h5", make_showers(), format="showerdata")
    assert read_showers(tmp_path / "empty.h5").allclose(make_showers(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("foreign", ["text", "hdf5"])
def test_a_file_calozoo_did_not_write_is_never_replaced(tmp_path, fmt, foreign):
    from calozoo.errors import OutputError

    path = tmp_path / "out.h5"
    if foreign == "text":
        path.write_bytes(b"years of work")
    else:  # HDF5, but another program's (no calozoo_version attribute)
        write_h5(path, {"events": np.ones((1, 4, 2))})
    before = path.read_bytes()
    with pytest.raises(OutputError, match="out.h5: exists and is not a shower file written by calozoo"):
        WRITERS[fmt](path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]  # no partial file, no lock left


def test_a_folder_or_a_link_is_not_a_shower_file(tmp_path):
    from calozoo.errors import OutputError

    (tmp_path / "folder.h5").mkdir()
    (tmp_path / "folder.h5" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="folder.h5: exists and is a folder; nothing was changed"):
        write_showers(tmp_path / "folder.h5", make_showers())
    target = write_showers(tmp_path / "real.h5", make_showers([1]))
    (tmp_path / "link.h5").symlink_to(target)
    with pytest.raises(OutputError, match="link.h5: is a symbolic link"):
        write_showers(tmp_path / "link.h5", make_showers())
    assert (tmp_path / "link.h5").is_symlink() and read_showers(target) == make_showers([1])
    assert (tmp_path / "folder.h5" / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------- malformed files
def _good(fmt: str) -> tuple[dict, dict]:
    showers = make_showers()
    if fmt == "caloclouds":
        return {
            "events": caloclouds_arrays(showers).transpose(0, 2, 1).copy(),
            "energy": showers.incident_energy_gev[:, None].copy(),
            "p_norm_local": showers.direction.copy(),
            "pdg": showers.pdg.copy(),
        }, {}
    return {
        "incident_energies": np.array([[1000.0], [2000.0], [500.0]]),
        "showers": np.ones((3, 10), dtype=np.float32),
    }, {}


def _set(key, value):
    def change(data, attrs):
        data[key] = value(data[key]) if callable(value) else value

    return change


def _edit(key, index, value):
    def change(data, attrs):
        data[key][index] = value

    return change


def _drop(key):
    return lambda data, attrs: data.pop(key)


def _attr(key, value):
    return lambda data, attrs: attrs.update({key: value})


CC = "caloclouds"
CASES = [
    # (id, format, change, key, a phrase of the problem/what is accepted)
    ("missing-energy", CC, _drop("energy"), "energy", "missing"),
    ("events-2d", CC, _set("events", lambda e: e[:, 0]), "events", "(N, 4, P) or (N, P, 4)"),
    ("events-no-4-axis", CC, _set("events", np.ones((4, 5, 7))), "events", "(N, 4, P) or (N, P, 4)"),
    ("events-strings", CC, _set("events", np.array([[["a"] * 7] * 4] * 4, dtype="S1")), "events", "numbers"),
    ("events-nan", CC, _edit("events", (2, 0, 1), np.nan), "events", "finite"),
    ("events-negative-e", CC, _edit("events", (0, 3, 1), -0.5), "events", ">= 0"),
    ("energy-length", CC, _set("energy", np.ones((3, 1))), "energy", "(N,), (N, 1) or (1, N)"),
    ("energy-shape", CC, _set("energy", np.ones((4, 2))), "energy", "(N,), (N, 1) or (1, N)"),
    ("energy-inf", CC, _edit("energy", (1, 0), np.inf), "energy", "finite"),
    ("energy-negative", CC, _edit("energy", (3, 0), -1.0), "energy", ">= 0"),
    ("direction-length", CC, _set("p_norm_local", np.tile([0, 0, 1.0], (5, 1))), "p_norm_local", "(N, 3)"),
    ("direction-shape", CC, _set("p_norm_local", np.ones((4, 2))), "p_norm_local", "(3, N)"),
    ("direction-nan", CC, _edit("p_norm_local", (0, 0), np.nan), "p_norm_local", "finite"),
    ("direction-norm", CC, _edit("p_norm_local", 1, [0.0, 0.0, 1.01]), "p_norm_local", "unit vectors"),
    ("direction-backwards", CC, _edit("p_norm_local", 2, [0.0, 0.0, -1.0]), "p_norm_local", "p_z > 0"),
    ("direction-sideways", CC, _edit("p_norm_local", 2, [0.0, 1.0, 0.0]), "p_norm_local", "p_z > 0"),
    ("pdg-length", CC, _set("pdg", [22, 22]), "pdg", "(N,)"),
    ("pdg-fractional", CC, _set("pdg", [22.0, 22.5, 11.0, 11.0]), "pdg", "integer"),
    ("z-units", CC, _attr("z_units", "cm"), "z_units", "['layer', 'mm']"),
    ("axis-order-contradicts", CC, _attr("axis_order", "NP4"), "axis_order", "(4, 4, 10)"),
    ("calochallenge-missing", "calochallenge", _drop("incident_energies"), "incident_energies", "missing"),
    ("calochallenge-3d", "calochallenge", _set("showers", np.ones((3, 2, 5))), "showers", "(N, voxels)"),
    (
        "calochallenge-length",
        "calochallenge",
        _set("showers", np.ones((4, 10))),
        "incident_energies",
        "N = 4",
    ),
    ("calochallenge-negative", "calochallenge", _edit("showers", (1, 3), -2.0), "showers", ">= 0"),
    (
        "calochallenge-nan",
        "calochallenge",
        _edit("incident_energies", (0, 0), np.nan),
        "incident_energies",
        "finite",
    ),
]


@pytest.mark.parametrize(
    ("fmt", "change", "key", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_files_name_file_and_key(tmp_path, fmt, change, key, phrase):
    data, attrs = _good(fmt)
    change(data, attrs)
    path = write_h5(tmp_path / "bad_file.h5", data, attrs)
    read = read_calochallenge if fmt == "calochallenge" else lambda p: read_showers(p, format=fmt)
    with pytest.raises(FileFormatError) as caught:
        read(path)
    message = str(caught.value)
    assert caught.value.key == key
    assert "bad_file.h5" in message and f"'{key}'" in message
    assert phrase in message


def _showerdata_file(path: Path) -> Path:
    showerdata.save(make_showers().to_showerdata(), path)
    return path


SD_CASES = [
    ("missing-num-points", lambda f: f.__delitem__("num_points"), "num_points", "missing"),
    ("energies-shape", lambda f: _replace(f, "energies", np.ones(4)), "energies", "(4, 1)"),
    ("negative-incident", lambda f: _replace(f, "energies", -np.ones((4, 1))), "energies", ">= 0"),
    ("direction-norm", lambda f: _replace(f, "directions", np.ones((4, 3))), "directions", "unit vectors"),
    (
        "direction-backwards",
        lambda f: _replace(f, "directions", np.tile([0, 0, -1.0], (4, 1))),
        "directions",
        "p_z",
    ),
    ("num-points-too-big", lambda f: _replace(f, "num_points", np.full(4, 99)), "num_points", "[0, 7]"),
    (
        "num-points-too-small",
        lambda f: _replace(f, "num_points", np.ones(4)),
        "num_points",
        "stores more points",
    ),
    ("negative-point", lambda f: _negate_first_point(f), "showers", "non-negative"),
    ("z-units", lambda f: f.attrs.__setitem__("z_units", "inch"), "z_units", "['layer', 'mm']"),
]


def _replace(file, key, value):
    del file[key]
    file.create_dataset(key, data=value)


def _negate_first_point(file):
    cloud = file["showers"][0].copy()
    cloud[3] = -cloud[3]
    file["showers"][0] = cloud


@pytest.mark.parametrize(("change", "key", "phrase"), [c[1:] for c in SD_CASES], ids=[c[0] for c in SD_CASES])
def test_malformed_showerdata_files(tmp_path, change, key, phrase):
    path = _showerdata_file(tmp_path / "bad_sd.h5")
    with h5py.File(path, "a") as file:
        change(file)
    with pytest.raises(FileFormatError) as caught:
        read_showers(path, format="showerdata")
    assert caught.value.key == key
    assert (
        "bad_sd.h5" in str(caught.value) and f"'{key}'" in str(caught.value) and phrase in str(caught.value)
    )


def test_missing_not_hdf5_and_unknown_files(tmp_path):
    with pytest.raises(FileFormatError, match="nowhere.h5.*no such file"):
        read_showers(tmp_path / "nowhere.h5")
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all")
    for reader in (read_showers, read_calochallenge, detect_format):
        with pytest.raises(FileFormatError, match="notes.h5.*not an HDF5 file"):
            reader(text)
    with pytest.raises(FileFormatError, match="is not a file"):
        read_showers(tmp_path)
    other = write_h5(tmp_path / "other.h5", {"weights": np.ones(3)})
    with pytest.raises(FileFormatError, match=r"other.h5.*unrecognised layout.*\['weights'\]") as caught:
        read_showers(other)
    assert caught.value.key is None
    truncated = tmp_path / "truncated.h5"
    write_showers(truncated, make_showers())
    whole = truncated.read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FileFormatError, match="truncated.h5"):
        read_showers(truncated)


# ---------------------------------------------------------------------- conditions only
@pytest.mark.parametrize("fmt", ["caloclouds", "showerdata"])
def test_read_conditions_matches_read_showers(tmp_path, fmt):
    showers = make_showers()
    path = write_showers(tmp_path / "s.h5", showers, fmt)
    energy, direction, pdg = read_conditions(path)
    back = read_showers(path)
    assert energy.dtype == np.float64 and direction.dtype == np.float64 and pdg.dtype == np.int32
    np.testing.assert_array_equal(energy, back.incident_energy_gev)
    np.testing.assert_array_equal(direction, back.direction)
    np.testing.assert_array_equal(pdg, back.pdg)
    assert pdg.tolist() == [22, 11, 22, -11]


def test_read_conditions_of_a_folder_of_shards(tmp_path):
    first, second = make_showers(seed=1), make_showers([2, 6], seed=2)
    write_showers(tmp_path / "shard-00000.h5", first)
    write_showers(tmp_path / "shard-00001.h5", second, "showerdata")
    write_showers(tmp_path / "raw-00000.h5", make_showers([1], seed=3))  # raw hits: not a shard
    energy, direction, pdg = read_conditions(tmp_path)
    assert len(energy) == len(direction) == len(pdg) == 6
    np.testing.assert_array_equal(direction[:4], read_showers(tmp_path / "shard-00000.h5").direction)
    np.testing.assert_array_equal(energy[4:], read_showers(tmp_path / "shard-00001.h5").incident_energy_gev)
    # a file without the optional datasets: normal incidence, photons (as read_showers)
    bare = write_h5(tmp_path / "bare.h5", {"events": np.ones((2, 4, 3)), "energy": [5.0, 7.0]})
    energy, direction, pdg = read_conditions(bare)
    assert (
        energy.tolist() == [5.0, 7.0] and direction.tolist() == [[0, 0, 1]] * 2 and pdg.tolist() == [22] * 2
    )


def test_read_conditions_refuses_gaps_empty_folders_and_voxels(tmp_path):
    write_showers(tmp_path / "shard-00000.h5", make_showers())
    write_showers(tmp_path / "shard-00002.h5", make_showers())
    with pytest.raises(FileFormatError, match="shard-00001.h5 is missing"):
        read_conditions(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileFormatError, match="no shard-"):
        read_conditions(empty)
    voxels = write_calochallenge(tmp_path / "cc.h5", VoxelShowers(np.ones((2, 5)), [1.0, 2.0]))
    with pytest.raises(FileFormatError, match="CaloChallenge"):
        read_conditions(voxels)
    with pytest.raises(FileFormatError, match="no such file"):
        read_conditions(tmp_path / "nowhere.h5")
    bad = write_h5(tmp_path / "bad.h5", {"events": np.ones((2, 4, 3)), "energy": [5.0, -1.0]})
    with pytest.raises(FileFormatError, match="negative incident energy"):
        read_conditions(bad)


@pytest.mark.parametrize("file_format", ["caloclouds", "showerdata"])
def test_a_particle_that_does_not_shower_is_refused_on_reading(tmp_path, file_format):
    """pdg 23 (a Z boson) in a file is a mistake, not a particle to simulate."""
    path = calozoo.write_showers(tmp_path / "z.h5", make_showers(), format=file_format)
    with h5py.File(path, "a") as file:  # written by another program
        file["pdg"][1] = 23
    with pytest.raises(FileFormatError, match=r"PDG ids \[23\] that are not particles.*22 \(photon\)"):
        calozoo.read_showers(path)
    with pytest.raises(FileFormatError, match="PDG ids"):
        calozoo.io.read_conditions(path)


@pytest.mark.parametrize("key", ["energy", "pdg", "events"])
def test_a_flipped_bit_is_caught_by_the_checksums(tmp_path, key):
    """Every dataset calozoo writes carries Fletcher-32 checksums, verified on reading."""
    path = write_showers(tmp_path / "s.h5", make_showers())
    with h5py.File(path, "r") as file:
        dataset = file[key]
        assert dataset.fletcher32
        offset = dataset.id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=f"'{key}'.*cannot be read"):
        read_showers(path)


def test_orientation_says_which_stored_column_is_which_local_axis(tmp_path):
    """The CaloClouds II-era data sets store the layer axis as y (hdf5:xyz==local:yzx)."""
    from calozoo.io import orientation_permutation

    showers = make_showers()
    stored = dataclasses.replace(
        showers, points=showers.points[..., [1, 2, 0, 3]].copy()
    )  # local (x, y, z) stored as (z, x, y)
    path = write_showers(tmp_path / "yzx.h5", stored)
    assert orientation_permutation("hdf5:xyz==local:yzx") == (2, 0, 1)
    assert read_showers(path, orientation="hdf5:xyz==local:yzx").allclose(showers)
    with h5py.File(path, "a") as file:  # the file states it itself
        file.attrs["orientation"] = "hdf5:xyz==local:yzx"
    assert read_showers(path).allclose(showers)
    assert read_showers(path, orientation="hdf5:xyz==local:xyz").allclose(stored)
    with pytest.raises(ValueError, match="hdf5:ABC==local:DEF"):
        read_showers(path, orientation="yzx")


def test_showerdata_files_give_the_right_layers_with_showerdata_own_functions(tmp_path):
    """showerdata puts a point in layer int(z + 0.1); calozoo's layer i is [i, i + 1). The files
    calozoo writes in that format give every point its layer with showerdata's functions."""
    import showerdata.observables

    rng = np.random.default_rng(4)
    points = [
        np.column_stack(
            [rng.normal(0, 5, 400), rng.normal(0, 5, 400), rng.uniform(0, 30, 400), rng.random(400)]
        )
        for _ in range(3)
    ]
    points[0][:4, 2] = [0.0, 0.95, 29.999, 12.5]  # the edges of layers and a layer centre
    showers = Showers.from_point_lists(points, [10.0, 20.0, 30.0])
    path = write_showers(tmp_path / "sd.h5", showers, format="showerdata")
    theirs = showerdata.observables.calc_energy_per_layer(showerdata.load(path), num_layers=30)
    layer = np.floor(showers.points[..., 2]).astype(int)
    ours = np.stack(
        [np.bincount(i[m], e[m], 30) for i, e, m in zip(layer, showers.points[..., 3], showers.padding_mask)]
    )
    np.testing.assert_allclose(theirs * 1000.0, ours, rtol=1e-5)  # showerdata keeps GeV
    counts = showerdata.observables.calc_num_points_per_layer(showerdata.load(path), num_layers=30)
    assert counts.sum() == showers.num_points.sum()
    back = read_showers(path)
    np.testing.assert_array_equal(np.floor(back.points[..., 2]), np.floor(showers.points[..., 2]))
    np.testing.assert_allclose(back.points, showers.points, atol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.incident_energy_gev.__setitem__(0, np.nan), "positive and finite"),
        (lambda s: s.incident_energy_gev.__setitem__(0, -5.0), "positive and finite"),
        (lambda s: s.direction.__setitem__(0, [0.0, 0.0, -1.0]), "unit vectors into the calorimeter"),
        (lambda s: s.pdg.__setitem__(0, 23), r"PDG ids \[23\]"),
    ],
)
def test_what_could_not_be_read_back_is_refused_before_writing(tmp_path, change, message):
    showers = make_showers()
    change(showers)
    with pytest.raises(ValueError, match=message):
        write_showers(tmp_path / "bad.h5", showers)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    """HDF5 can crash closing a file on a full disk: calozoo stops before a batch could fill it."""
    import collections
    import shutil as shutil_module

    from calozoo.errors import OutputError

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OutputError, match="the disk is full"):
        write_showers(tmp_path / "out.h5", make_showers())
    assert list(tmp_path.iterdir()) == []


def test_an_output_whose_folder_cannot_exist_names_the_output(tmp_path):
    from calozoo.errors import OutputError

    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(OutputError, match=r"x.h5: its folder .*a-file cannot be created"):
        write_showers(tmp_path / "a-file" / "x.h5", make_showers())
