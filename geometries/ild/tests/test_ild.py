"""The ILD geometries as a user relies on them: the facts, the cell layout of the spec, energy
bookkeeping, the tilt, the staggering, clear errors, registration and save/load."""

import math
import warnings

import numpy as np
import pytest
from calozoo_ild.barrel import CELL_ID_FIELDS, ILDBarrel, decode_cell_id, encode_cell_id
from calozoo_ild.cells import slab_cells, slab_wafers
from calozoo_ild.facts import MATERIALS, load_facts
from calozoo_ild.regular import ILDRegular

import calozoo
from calozoo.conditions import direction_from_angles
from calozoo.interfaces import EnergyLosses, MissingLayersWarning
from calozoo.layered import PlanarGeometry, cell_sums
from calozoo.showers import Showers, tilt_xy_mm
from calozoo.testing import check_geometry

R = 1804.8  # inner radius of the barrel, mm
PITCH = 5.08833  # cell size, mm
TOP = 2  # the top stave (outward normal +y): its local y is global x


@pytest.fixture(scope="module")
def barrel():
    return ILDBarrel()


@pytest.fixture(scope="module")
def toy_gamma():
    return calozoo.load("toy-gamma")


def spec_beam_centre(m, t, w, c):
    """The spec's formula for the cell centres along the beam, written out."""
    return -2350 + 940 * m + 1.6 + 187.36 * t + 1.09 + 92.59 * w + 0.5 + 5.08833 * (c + 0.5)


ALL_BEAM_CENTRES = np.array(
    [spec_beam_centre(m, t, w, c) for m in range(5) for t in range(5) for w in range(2) for c in range(18)]
)


def spec_across_centres(slab):
    """Cell centres across the stave in a slab, from the spec's numbers alone: the slab starts at
    the octagon corner plus the depth of its back face (45° ends), wafers of 92.59 mm follow (the
    first 15, enough for the middle of the stave)."""
    back_face = 4.04 + 8.65 + 12.47 * min(slab, 9) + 16.67 * max(slab - 9, 0)  # front, slab 0, pitches
    start = -R * math.tan(math.pi / 8) + back_face
    return np.array([start + 92.59 * j + 0.5 + PITCH * (c + 0.5) for j in range(15) for c in range(18)])


def in_a_cell(values, centres):
    """Brute force: is each value within half a pitch of some cell centre?"""
    return np.any(np.abs(np.asarray(values)[:, None] - centres[None, :]) < PITCH / 2, axis=1)


def top_stave_point(beam_mm, across_mm):
    """Global point on the top stave's inner face at (along the beam, across) in the stave frame."""
    return np.array([across_mm, R, beam_mm])


# ----------------------------------------------------------------------------- facts


def test_material_stack_reproduces_the_published_silicon_layer_bottoms():
    facts = load_facts()
    stack = facts.material_stack()
    bottoms = R + facts.layer_bottom_mm()
    np.testing.assert_allclose(bottoms, facts.silicon_layer_bottoms_mm, atol=0.01)
    assert sum(s.thickness_mm for s in stack) == pytest.approx(223.2, abs=1e-9)
    assert sum(s.thickness_mm for s in stack if s.material == "W") == pytest.approx(84.0)  # 24 X0
    assert {s.material for s in stack} == set(MATERIALS)
    assert [s.layer for s in stack if s.material == "Si"] == list(range(30))
    assert all(s.layer is None for s in stack if s.material != "Si")
    # pairs 3.125 mm apart, pair period 12.47 mm (thin) then 16.67 mm (thick)
    np.testing.assert_allclose(np.diff(bottoms[0:20:2]), 12.47, atol=1e-9)
    np.testing.assert_allclose(np.diff(bottoms[20::2]), 16.67, atol=1e-9)
    np.testing.assert_allclose(facts.layer_depth_mm(), facts.layer_bottom_mm() + 0.525 / 2)


def test_plugin_metadata_agrees_with_the_facts():
    facts = load_facts()
    geometries = {r.name: r for r in calozoo.list_geometries()}
    for name in ("ild-ecal-regular", "ild-ecal-barrel"):
        meta = geometries[name].metadata
        assert meta["n_layers"] == facts.n_layers == 30
        assert meta["cell_size_mm"] == facts.cell_size_mm
        assert meta["threshold_mev"] == facts.threshold_mev == 0.1


# ----------------------------------------------------------------------------- regular


def test_regular_geometry_conserves_energy_without_threshold(toy_gamma):
    geo = calozoo.geometry("ild-ecal-regular", threshold_mev=0)
    assert isinstance(geo, ILDRegular) and geo.threshold_mev == 0
    np.testing.assert_allclose(geo.layer_depth_mm, load_facts().layer_depth_mm())
    assert geo.material_stack[2] == ("W", 2.1, None) and geo.material_stack[9].layer == 0
    showers = toy_gamma.sample([10.0, 50.0, 100.0], direction_from_angles(60, 90), seed=4)
    cells = geo.project(showers)
    np.testing.assert_allclose(cells.showers.visible_energy_mev, showers.visible_energy_mev, rtol=1e-6)
    # the default keeps half a MIP only
    default = ILDRegular()
    assert default.threshold_mev == 0.1
    assert default.project(showers).showers.visible_energy_mev.sum() < showers.visible_energy_mev.sum()


def test_regular_geometry_tilts_a_60_degree_shower_by_the_layer_depth(toy_gamma):
    geo = ILDRegular(threshold_mev=0)
    direction = direction_from_angles(60, 90)  # 30° from the normal, leaning along the beam
    slope = direction[0] / direction[2]
    assert slope == pytest.approx(math.tan(math.radians(30)))
    showers = toy_gamma.sample([50.0, 50.0], direction, seed=8)
    cells = geo.project(showers).showers
    for i in range(2):
        points, hits = showers.shower(i), cells.shower(i)
        for layer in range(30):
            p, h = points[np.floor(points[:, 2]) == layer], hits[np.floor(hits[:, 2]) == layer]
            if p[:, 3].sum() < 5:  # MeV; too few points for a stable centroid
                continue
            shift = np.average(h[:, 0], weights=h[:, 3]) - np.average(p[:, 0], weights=p[:, 3])
            # cell quantisation moves each point by up to half a cell (rms cell / sqrt 12), so the
            # centroid by about that over sqrt(effective points): 4 of those, at least 1 mm; the
            # tilt moves it by up to 119 mm
            n_eff = p[:, 3].sum() ** 2 / (p[:, 3] ** 2).sum()
            tolerance = max(1.0, 4 * geo.cell_size_mm / math.sqrt(12 * n_eff))
            assert shift == pytest.approx(geo.layer_depth_mm[layer] * slope, abs=tolerance)
            assert np.average(h[:, 1], weights=h[:, 3]) == pytest.approx(
                np.average(p[:, 1], weights=p[:, 3]), abs=tolerance
            )


# ----------------------------------------------------------------------------- barrel cells


def test_beam_cell_centres_follow_the_spec_formula_for_every_cell(barrel):
    m, t, w, c = np.meshgrid(range(5), range(5), range(2), range(18), indexing="ij")
    centres = barrel.beam_cell_centre_mm(m, t, w, c).ravel()
    assert len(centres) == 900
    np.testing.assert_allclose(centres, ALL_BEAM_CENTRES, rtol=0, atol=1e-9)

    # Projection puts a point near each centre into that very cell (incident at z = 0, normal incidence).
    across = barrel.across_cell_centres_mm(0)[150]
    offsets = np.random.default_rng(0).uniform(-0.45, 0.45, 900) * PITCH
    points = np.stack([ALL_BEAM_CENTRES + offsets, np.zeros(900), np.full(900, 0.5), np.ones(900)], 1)
    hits = barrel.project(Showers.from_point_lists([points], [10.0]), top_stave_point(0.0, across))
    assert hits.showers.num_points[0] == 900 and hits.losses.total_mev[0] == 0
    fields = decode_cell_id(hits.cell_id[0])
    got = barrel.beam_cell_centre_mm(fields["module"], fields["tower"], fields["wafer_x"], fields["cell_x"])
    np.testing.assert_array_equal(np.sort(got), ALL_BEAM_CENTRES)  # all 900, each once, exactly
    np.testing.assert_allclose(np.sort(hits.showers.shower(0)[:, 0]), ALL_BEAM_CENTRES, atol=2e-3)  # float32

    # The dead strips between cell edges: 1.0 mm across wafers, 3.18 across towers, 6.38 across modules.
    def gap(before, after):
        return spec_beam_centre(*after) - spec_beam_centre(*before) - PITCH

    assert gap((0, 0, 0, 17), (0, 0, 1, 0)) == pytest.approx(1.0, abs=0.011)
    assert gap((0, 0, 1, 17), (0, 1, 0, 0)) == pytest.approx(3.18, abs=0.011)
    assert gap((0, 4, 1, 17), (1, 0, 0, 0)) == pytest.approx(6.38, abs=0.011)


def test_layers_of_a_slab_share_a_grid_and_slabs_are_staggered(barrel):
    for k in range(14):
        first, second, next_slab = (
            barrel.across_cell_centres_mm(layer) for layer in (2 * k, 2 * k + 1, 2 * k + 2)
        )
        np.testing.assert_array_equal(first, second)
        shift = 12.47 if k + 1 < 10 else 16.67  # slab k + 1 thin or thick
        n = min(len(first), len(next_slab)) - 18  # the far end's partial wafer differs
        np.testing.assert_allclose(next_slab[:n] - first[:n], shift, atol=1e-9)
        assert (next_slab[0] - first[0]) % PITCH == pytest.approx(2.293 if k + 1 < 10 else 1.405, abs=1e-3)
    # the grid of slab k, derived from the spec's numbers alone
    for k in range(10):
        np.testing.assert_allclose(barrel.across_cell_centres_mm(2 * k)[: 15 * 18], spec_across_centres(k))

    # Through projection: one point per layer at the same place, normal incidence.
    points = np.stack([np.zeros(30), np.zeros(30), np.arange(30) + 0.5, np.ones(30)], 1)
    hits = barrel.project(Showers.from_point_lists([points], [10.0]))
    assert hits.showers.num_points[0] == 30
    order = np.argsort(hits.showers.shower(0)[:, 2])  # by layer
    y = hits.showers.shower(0)[order, 1]
    fields = decode_cell_id(hits.cell_id[0, order])
    np.testing.assert_array_equal(y[0::2], y[1::2])
    for name in ("wafer_y", "cell_y"):
        np.testing.assert_array_equal(fields[name][0::2], fields[name][1::2])
    assert np.all(np.diff(y[0::2]) != 0)  # successive slabs sit on different grids


# ----------------------------------------------------------------------------- energy bookkeeping


def test_barrel_loses_exactly_the_energy_that_lands_in_dead_regions(barrel):
    # Points scattered over a module boundary (beam) and several wafer boundaries (across), layers
    # 0-9; the dead ones are found here by brute force from the spec's numbers.
    rng = np.random.default_rng(1)
    n = 4000
    beam0, across0 = -1410.0, 0.0  # the boundary between modules 0 and 1
    x = rng.uniform(-25, 25, n)
    y = rng.uniform(-120, 120, n)
    layer = rng.integers(0, 10, n)
    e = rng.exponential(0.5, n)
    points = np.stack([x, y, layer + rng.uniform(0, 1, n), e], 1)
    showers = Showers.from_point_lists([points], [50.0])
    e = showers.shower(0)[:, 3].astype(np.float64)  # as stored (float32)

    alive = in_a_cell(beam0 + x, ALL_BEAM_CENTRES)
    for k in range(5):
        slab = layer // 2 == k
        alive[slab] &= in_a_cell(across0 + y[slab], spec_across_centres(k))
    expected_dead = e[~alive].sum()
    assert 0.05 < expected_dead / e.sum() < 0.5  # a real test: plenty of dead and live points

    geo = ILDBarrel(threshold_mev=0)
    hits = geo.project(showers, top_stave_point(beam0, across0))
    assert hits.losses.dead_mev[0] == pytest.approx(expected_dead, rel=1e-9)
    assert hits.losses.outside_mev[0] == 0 and hits.losses.below_threshold_mev[0] == 0
    assert hits.showers.visible_energy_mev[0] == pytest.approx(e.sum() - expected_dead, rel=1e-6)

    # With the threshold, the rest is accounted for too.
    hits = barrel.project(showers, top_stave_point(beam0, across0))
    assert hits.losses.below_threshold_mev[0] > 0
    assert hits.showers.visible_energy_mev[0] + hits.losses.total_mev[0] == pytest.approx(e.sum(), rel=1e-6)
    assert np.all(hits.showers.shower(0)[:, 3] >= 0.1)


def numpy_barrel_projection(geo, showers, point):
    """The barrel's projection written with the numpy cell functions of ``calozoo_ild.cells``:
    ``(cell ids (K,), shower (K,), xyz (K, 3), energy (K,), losses {cause: (N,)})``."""
    n = len(showers)
    height = point @ geo.stave_normal.T
    stave = np.argmax(height, axis=1)
    origin = np.stack([point[:, 2], np.einsum("ij,ij->i", point, geo.stave_across[stave])], axis=1)
    points, owner = showers.flat()
    x, y, z, e = points.astype(np.float64).T
    layer = np.floor(z).astype(np.int64)
    in_layers = (layer >= 0) & (layer < geo.n_layers)
    layer = np.clip(layer, 0, geo.n_layers - 1)
    axis = tilt_xy_mm(showers.direction[owner], geo.layer_depth_mm[layer])
    u, v = x + axis[:, 0] + origin[owner, 0], y + axis[:, 1] + origin[owner, 1]
    module, tower, wafer_x, cell_x, alive_x, inside_x = geo._beam.cells(u)
    extent = np.array([geo.slab_extent_mm(2 * k) for k in range(geo.n_layers // 2)])
    lo, hi = extent[layer // 2, 0], extent[layer // 2, 1]
    full, partial = slab_wafers(extent[:, 1] - extent[:, 0], geo.facts)
    wafer_y, cell_y, alive_y = slab_cells(v - lo, full[layer // 2], partial[layer // 2], geo.facts)
    inside = in_layers & inside_x & (v >= lo) & (v < hi)
    alive = inside & alive_x & alive_y
    fields = (module, tower, wafer_x, cell_x, wafer_y, cell_y, layer)
    ids = encode_cell_id(stave[owner][alive], *(f[alive].astype(np.int64) for f in fields))
    s, ids, energy = cell_sums(owner[alive], ids, e[alive])  # sorted by shower, then cell id
    keep = energy >= geo.threshold_mev
    losses = {
        "below_threshold_mev": np.bincount(s[~keep], energy[~keep], minlength=n),
        "outside_layers_mev": np.bincount(owner[~in_layers], e[~in_layers], minlength=n),
        "outside_mev": np.bincount(owner[in_layers & ~inside], e[in_layers & ~inside], minlength=n),
        "dead_mev": np.bincount(owner[inside & ~alive], e[inside & ~alive], minlength=n),
    }
    s, ids, energy = s[keep], ids[keep], energy[keep]
    centre = geo.cell_position_mm(ids)
    xyz = np.column_stack([centre[:, :2] - origin[s], decode_cell_id(ids)["layer"] + 0.5])
    return ids, s, xyz, energy, losses


def test_the_compiled_projection_gives_the_cells_of_the_numpy_layout(barrel):
    # Points spread far over module, tower, wafer and slab edges, in front of and behind the
    # layers, steep directions, incident points on every stave up to the barrel's ends: the
    # compiled projection must give the same cells, energies, centres and losses, bit for bit.
    rng = np.random.default_rng(11)
    n = 40
    lists = []
    for i in range(n):
        m = int(rng.integers(0, 400))
        spread = [20.0, 300.0, 1500.0][i % 3]
        xy = rng.normal(0, spread, (m, 2))
        lists.append(np.column_stack([xy, rng.uniform(-1.5, 31.5, m), rng.exponential(0.2, m)]))
    theta, phi = rng.uniform(0, 1.2, n), rng.uniform(0, 2 * np.pi, n)
    direction = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)
    showers = Showers.from_point_lists(lists, rng.uniform(1, 100, n), direction)
    face = np.stack([rng.uniform(-2350, 2350, n), rng.uniform(-740, 740, n), np.zeros(n)], 1)
    point = barrel.to_global_mm(rng.integers(0, 8, n), face)

    ids, s, xyz, energy, losses = numpy_barrel_projection(barrel, showers, point)
    assert 1000 < len(ids) and all(v.sum() > 0 for v in losses.values())  # every path is exercised
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingLayersWarning)
        hits = barrel.project(showers, point)
    real = hits.cell_id >= 0
    np.testing.assert_array_equal(hits.cell_id[real], ids)
    np.testing.assert_array_equal(np.nonzero(real)[0], s)
    np.testing.assert_array_equal(hits.showers.points[real][:, :3], xyz.astype(np.float32))
    np.testing.assert_array_equal(hits.showers.points[real][:, 3], energy.astype(np.float32))
    for cause, expected in losses.items():
        np.testing.assert_array_equal(getattr(hits.losses, cause), expected, err_msg=cause)


def test_a_shower_at_a_module_boundary_loses_more_than_one_at_a_wafer_centre(barrel, toy_gamma):
    showers = toy_gamma.sample(np.full(5, 50.0), [0.0, 0.0, 1.0], seed=5)
    centre = barrel.project(showers)  # the default point: a wafer centre of the top stave
    across = barrel.default_incident_point_mm[0]
    boundary = barrel.project(showers, top_stave_point(-1410.0, across))
    assert np.all(boundary.losses.dead_mev > 10 * centre.losses.dead_mev)
    assert np.all(centre.losses.dead_mev < 0.05 * showers.visible_energy_mev)
    for hits in (centre, boundary):
        total = hits.showers.visible_energy_mev + hits.losses.total_mev
        np.testing.assert_allclose(total, showers.visible_energy_mev, rtol=1e-6)


def test_threshold_and_outside_energy_are_reported(barrel):
    points = np.array(
        [
            [0.0, 0.0, 0.5, 0.05],  # a cell below 0.1 MeV
            [20.0, 0.0, 0.5, 0.3],  # a cell above
            [0.0, 0.0, 30.5, 2.0],  # behind layer 29
            [0.0, -800.0, 3.5, 4.0],  # beyond the slab's end, in the neighbouring stave
        ]
    )
    with pytest.warns(MissingLayersWarning, match=r"layer 30: 2 MeV .*largest loss is beyond the edges"):
        hits = barrel.project(Showers.from_point_lists([points], [1.0]))
    assert hits.showers.shower(0)[:, 3].tolist() == pytest.approx([0.3])
    assert hits.losses.below_threshold_mev.tolist() == pytest.approx([0.05])
    assert hits.losses.outside_layers_mev.tolist() == pytest.approx([2.0])
    assert hits.losses.outside_mev.tolist() == pytest.approx([4.0])
    assert hits.losses.dead_mev.tolist() == [0.0]
    assert hits.losses.total_mev.tolist() == pytest.approx([6.05])


# ----------------------------------------------------------------------------- tilt


def test_a_60_degree_shower_is_tilted_by_the_depth_of_each_layer(barrel):
    # One point per layer on the incident trajectory (tilt removed: x = y = 0).
    direction = direction_from_angles(60, 90)
    slope = direction[0] / direction[2]  # tan 30°: the beam component over the normal one
    points = np.stack([np.zeros(30), np.zeros(30), np.arange(30) + 0.5, np.ones(30)], 1)
    showers = Showers.from_point_lists([points], [50.0], direction=[direction])
    start = top_stave_point(-1470.0, barrel.default_incident_point_mm[0])  # the axis crosses a module gap
    hits = barrel.project(showers, start)

    on_axis = start[2] + barrel.layer_depth_mm * slope  # global z of the trajectory in each layer
    expected_alive = in_a_cell(on_axis, ALL_BEAM_CENTRES)
    for layer in range(30):  # across the stave it stays put, on each slab's own grid
        expected_alive[layer] &= in_a_cell([start[0]], spec_across_centres(layer // 2))[0]
    assert 20 <= expected_alive.sum() < 30  # it crosses a few dead strips on its way
    got = hits.showers.shower(0)
    layers = np.floor(got[:, 2]).astype(int)
    np.testing.assert_array_equal(np.sort(layers), np.flatnonzero(expected_alive))
    nearest = ALL_BEAM_CENTRES[np.argmin(np.abs(on_axis[layers, None] - ALL_BEAM_CENTRES), axis=1)]
    np.testing.assert_allclose(got[:, 0], nearest - start[2], atol=2e-3)
    assert np.all(np.abs(got[:, 0] - barrel.layer_depth_mm[layers] * slope) < PITCH / 2 + 1e-3)
    assert hits.losses.dead_mev[0] == pytest.approx(30 - expected_alive.sum())


# ----------------------------------------------------------------------------- frames and errors


@pytest.mark.parametrize("stave", range(8))
def test_locate_finds_the_stave_and_the_local_frame(barrel, stave):
    normal, across = barrel.stave_normal[stave], barrel.stave_across[stave]
    point = R * normal + 321.0 * across + np.array([0.0, 0.0, -1234.5])
    where = barrel.locate(point, normal)
    assert where.stave == stave
    np.testing.assert_allclose(where.point_mm, [-1234.5, 321.0], atol=1e-9)
    np.testing.assert_allclose(where.direction, [0.0, 0.0, 1.0], atol=1e-12)
    # right-handed local frame: x along the beam, y = z × x
    np.testing.assert_allclose(np.cross(normal, [0.0, 0.0, 1.0]), across, atol=1e-12)
    # a corner is shared: just on either side of it the neighbouring staves take over
    half = R * math.tan(math.pi / 8)
    assert barrel.locate(R * normal + (half - 1) * across).stave == stave
    assert barrel.locate(R * normal - (half - 1) * across).stave == stave


def test_locate_matches_the_angle_convention_of_the_top_stave(barrel):
    theta, phi = math.radians(60), math.radians(90)
    global_direction = [math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)]
    where = barrel.locate([[10.0, R, 0.0], [0.0, -R, 5.0]], [global_direction, [0.0, -1.0, 0.0]])
    assert where.stave.tolist() == [TOP, 6]
    np.testing.assert_allclose(where.direction[0], direction_from_angles(60, 90), atol=1e-12)
    np.testing.assert_allclose(where.point_mm, [[0.0, 10.0], [5.0, -0.0]], atol=1e-9)


def test_bad_input_gives_a_clear_error(barrel):
    on_face = [0.0, R, 0.0]
    with pytest.raises(ValueError, match="out of the calorimeter"):
        barrel.locate(on_face, [0.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="out of the calorimeter"):
        barrel.locate(on_face, [1.0, 0.0, 0.0])  # grazing the face
    with pytest.raises(ValueError, match="not on the barrel's inner face"):
        barrel.locate([0.0, 1900.0, 0.0])
    with pytest.raises(ValueError, match="not on the barrel's inner face"):
        barrel.locate([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="beyond the barrel's end"):
        barrel.locate([0.0, R, 2400.0])
    with pytest.raises(ValueError, match="NaN"):
        barrel.locate([np.nan, R, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        barrel.locate(on_face, [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="unit vectors"):
        barrel.locate(on_face, [0.0, 2.0, 0.0])

    shower = np.array([[0.0, 0.0, 0.5, 1.0]])
    good = Showers.from_point_lists([shower], [10.0])
    with pytest.raises(ValueError, match="not on the barrel's inner face"):
        barrel.project(good, [0.0, R + 5.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        barrel.project(good, [np.nan, R, 0.0])
    with pytest.raises(ValueError, match=r"\(3,\) or \(N, 3\)"):
        barrel.project(good, [[0.0, R, 0.0]] * 2)
    for direction, message in (([0.0, 0.0, -1.0], "out of the calorimeter"), ([0.0, 0.0, 1.5], "unit")):
        with pytest.raises(ValueError, match=message):
            barrel.project(Showers.from_point_lists([shower], [10.0], direction=[direction]))
    with pytest.raises(ValueError, match="layer units"):
        barrel.project(Showers.from_point_lists([shower], [10.0], z_units="mm"))
    with pytest.raises(ValueError, match="NaN"):
        barrel.project(Showers.from_point_lists([[[np.nan, 0.0, 0.5, 1.0]]], [10.0]))


def test_empty_batches_and_empty_showers_project_to_nothing(barrel):
    hits = barrel.project(Showers.empty())
    assert len(hits) == 0 and hits.cell_id.shape == (0, 0)
    two = Showers.from_point_lists([np.zeros((0, 4)), np.array([[0.0, 0.0, 0.5, 1.0]])], [1.0, 1.0])
    hits = barrel.project(two)
    assert hits.showers.num_points.tolist() == [0, 1] and hits.losses.total_mev.tolist() == [0.0, 0.0]


# ----------------------------------------------------------------------------- ids, batches, save/load


def test_cell_ids_encode_every_field_and_decode_back(barrel, toy_gamma):
    fields = {name: np.arange(6) + i for i, name in enumerate(CELL_ID_FIELDS)}
    decoded = decode_cell_id(encode_cell_id(**fields))
    assert all(np.array_equal(decoded[k], fields[k]) for k in CELL_ID_FIELDS)
    assert decode_cell_id(-1)["layer"] == -1
    with pytest.raises(ValueError, match="layer"):
        encode_cell_id(0, 0, 0, 0, 0, 0, 0, 300)

    # two showers in two staves: positions, ids and staves agree
    showers = toy_gamma.sample([20.0, 40.0], [0.0, 0.0, 1.0], seed=2)
    starts = np.array([top_stave_point(500.0, 30.0), [R, 12.0, -700.0]])  # stave 2 and stave 0
    hits = barrel.project(showers, starts)
    assert hits.stave.tolist() == [TOP, 0]
    for i in range(2):
        ids = hits.cell_id[i, : hits.showers.num_points[i]]
        assert len(np.unique(ids)) == len(ids) and np.all(decode_cell_id(ids)["stave"] == hits.stave[i])
        where = barrel.locate(starts[i])
        position = barrel.cell_position_mm(ids)
        np.testing.assert_allclose(hits.showers.shower(i)[:, :2], position[:, :2] - where.point_mm, atol=2e-3)
        np.testing.assert_allclose(hits.showers.shower(i)[:, 2] - 0.5, decode_cell_id(ids)["layer"])
        # the cell centres in global coordinates lie behind the inner face of that stave
        radial = barrel.to_global_mm(hits.stave[i], position) @ barrel.stave_normal[hits.stave[i]]
        np.testing.assert_allclose(radial, R + barrel.layer_depth_mm[decode_cell_id(ids)["layer"]])
    assert np.all(hits.cell_id[0, hits.showers.num_points[0] :] == -1)


def test_geometries_are_registered_and_survive_save_and_load(tmp_path, barrel, toy_gamma):
    geo = calozoo.geometry("ild-ecal-barrel", threshold_mev=0.2)
    assert isinstance(geo, ILDBarrel) and geo.threshold_mev == 0.2 and geo.n_layers == 30
    assert geo.cell_size_mm == PITCH
    loaded = ILDBarrel.load(geo.save(tmp_path / "barrel"))
    showers = toy_gamma.sample(30.0, [0.0, 0.0, 1.0], seed=3)
    a, b = geo.project(showers), loaded.project(showers)
    assert a.showers == b.showers and np.array_equal(a.cell_id, b.cell_id)
    regular = ILDRegular.load(ILDRegular(threshold_mev=0).save(tmp_path / "regular"))
    assert regular.threshold_mev == 0 and regular.name == "ild-ecal-regular"
    assert isinstance(calozoo.geometry("ild-ecal-regular"), ILDRegular)


# ----------------------------------------------------------------------------- the contract, losses


@pytest.mark.parametrize("name", ["ild-ecal-regular", "ild-ecal-barrel"])
def test_both_geometries_pass_the_conformance_kit(name, tmp_path):
    check_geometry(calozoo.geometry(name), tmp_path)
    check_geometry(calozoo.geometry(name, threshold_mev=0), tmp_path)


@pytest.mark.parametrize("name", ["ild-ecal-regular", "ild-ecal-barrel"])
def test_every_geometry_reports_losses_by_cause(name, toy_gamma):
    showers = toy_gamma.sample([20.0, 60.0], seed=3)
    cells = calozoo.geometry(name).project(showers)
    assert isinstance(cells.losses, EnergyLosses)
    causes = {"below_threshold_mev", "outside_layers_mev", "outside_mev", "dead_mev"}
    assert set(cells.losses.causes()) == causes
    assert np.all(cells.losses.below_threshold_mev > 0)  # a toy-gamma halo has cells under 0.1 MeV
    assert np.all(cells.losses.outside_layers_mev == 0)  # a 30-layer model in 30 layers
    if name == "ild-ecal-regular":  # no gaps, no edges
        assert np.all(cells.losses.dead_mev == 0) and np.all(cells.losses.outside_mev == 0)
    total = cells.showers.visible_energy_mev + cells.losses.total_mev
    np.testing.assert_allclose(total, showers.visible_energy_mev, rtol=1e-6)


def test_a_30_layer_model_in_a_shorter_stack_warns_how_much_was_lost(toy_gamma):
    regular = calozoo.geometry("ild-ecal-regular")
    short = PlanarGeometry(regular.layer_depth_mm[:20], cell_size_mm=PITCH, threshold_mev=0.1, name="ild-20")
    showers = toy_gamma.sample([50.0, 50.0], seed=4)
    behind = np.where(showers.points[..., 2] >= 20, showers.points[..., 3], 0).sum(axis=1, dtype=np.float64)
    assert np.all(behind > 0)
    with pytest.warns(MissingLayersWarning) as record:
        cells = short.project(showers)
    np.testing.assert_allclose(cells.losses.outside_layers_mev, behind, rtol=1e-9)
    message = str(record[0].message)
    assert "ild-20 has 20 layers (0-19) but the showers reach layer 29" in message
    assert f"{behind.sum():.4g} MeV" in message
    assert "the largest loss is outside the layers" in message
    # the same showers in all 30 layers: no warning, nothing lost outside the layers
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingLayersWarning)
        full = regular.project(showers)
    assert np.all(full.losses.outside_layers_mev == 0)
