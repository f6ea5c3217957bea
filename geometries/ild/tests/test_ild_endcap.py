"""The ILD endcap as a user relies on it: the facts, the cells the spec's numbers give (counted by
brute force), the hole, the ring and the quadrant gaps losing what they should, the frames and the
field, clear errors, ids, save/load."""

import math

import numpy as np
import pytest
from calozoo_ild.endcap import CELL_ID_LAYOUT, RING, ILDEndcap
from calozoo_ild.facts import load_facts
from calozoo_ild.regular import ILDEndcapRegular, ILDRegular

import calozoo
from calozoo.showers import Showers
from calozoo.testing import check_geometry

Z0 = 2411.8  # front faces, |z| in mm
R = 2095.84  # apothem of the octagon
H = 400.0  # half width of the hole
PITCH = 5.08833


@pytest.fixture(scope="module")
def endcap():
    return ILDEndcap()


@pytest.fixture(scope="module")
def free():
    return ILDEndcap(threshold_mev=0)


# ----------------------------------------------------------------------------- brute force from the spec


def spec_v_centres():
    """Cell centres from the hole outwards in a quadrant: 3 modules x 3 towers x 2 wafers x 18
    cells, with the barrel's margins (module 1.6, tower 1.09, guard ring 0.5 mm)."""
    tower = 2 * 1.09 + 2 * 92.59
    module = 2 * 1.6 + 3 * tower
    assert module * 3 == pytest.approx(R - H, abs=1e-9)  # the short side exactly
    centres, outer_edge = [], []
    for m in range(3):
        for t in range(3):
            for w in range(2):
                for c in range(18):
                    centres.append(m * module + 1.6 + t * tower + 1.09 + 92.59 * w + 0.5 + PITCH * (c + 0.5))
                    outer_edge.append(m * module + 1.6 + (t + 1) * tower)
    return np.array(centres), np.array(outer_edge)


def spec_u_centres(slab_length):
    """Cell centres along a slab of the given length: whole 92.59 mm wafers of 18 cells, then one
    partial wafer keeping the cells that fit whole inside its 0.5 mm guard rings."""
    whole = int(slab_length // 92.59)
    out = [92.59 * w + 0.5 + PITCH * (c + 0.5) for w in range(whole) for c in range(18)]
    rest = slab_length - 92.59 * whole
    out += [92.59 * whole + 0.5 + PITCH * (c + 0.5) for c in range(18) if 0.5 + PITCH * (c + 1) <= rest - 0.5]
    return np.array(out)


def quadrant0_cells():
    """``(a, b)`` centres of every cell of quadrant 0 (one layer), from the spec's numbers."""
    v, edge = spec_v_centres()
    cells = []
    for vc, e in zip(v, edge):
        length = min(R + H, R * math.sqrt(2) - e)  # the octagon's side or its diagonal
        u = spec_u_centres(length)
        cells.append(np.column_stack([u - H, np.full(len(u), vc + H)]))
    return np.concatenate(cells)


def ring_cells():
    ix = np.arange(-80, 80)
    a, b = np.meshgrid((ix + 0.5) * 5.0, (ix + 0.5) * 5.0, indexing="ij")
    r = np.hypot(a, b)
    keep = (r >= 250) & (r < 390)
    return np.column_stack([a[keep], b[keep]])


def rotate(ab, q):
    """Turn face points by q x 90 degrees."""
    a, b = ab[:, 0], ab[:, 1]
    for _ in range(q % 4):
        a, b = -b, a
    return np.column_stack([a, b])


RING_CELLS = ring_cells()
ALL_CELLS = np.concatenate([rotate(quadrant0_cells(), q) for q in range(4)] + [RING_CELLS])


def in_octagon(ab):
    a, b = np.abs(ab[:, 0]), np.abs(ab[:, 1])
    return (a <= R) & (b <= R) & (a + b <= R * math.sqrt(2))


def brute_force_alive(ab):
    """Is each face point inside some cell square? (every cell near the points checked)"""
    alive = np.zeros(len(ab), dtype=bool)
    lo, hi = ab.min(axis=0) - 10, ab.max(axis=0) + 10
    for cells, half in ((ALL_CELLS[: -len(RING_CELLS)], PITCH / 2), (RING_CELLS, 2.5)):
        cells = cells[np.all((cells >= lo) & (cells <= hi), axis=1)]
        for start in range(0, len(ab), 500):
            p = ab[start : start + 500]
            near = np.abs(p[:, None, :] - cells[None, :, :]) < half
            alive[start : start + 500] |= np.any(near.all(axis=2), axis=1)
    return alive


def flat_showers(ab_offsets, layer, energy, direction=(0.0, 0.0, 1.0)):
    n = len(ab_offsets)
    layer, energy = np.broadcast_to(layer, n), np.broadcast_to(energy, n)
    points = np.column_stack([ab_offsets, layer + 0.5, energy])
    return Showers.from_point_lists([points], [50.0], direction=[direction])


# ----------------------------------------------------------------------------- facts


def test_the_endcap_has_the_barrels_stack_and_its_depth():
    facts = load_facts()
    e = facts.endcap
    assert e.z_max_mm - e.z_min_mm == pytest.approx(facts.depth_mm)
    assert sum(s.thickness_mm for s in facts.material_stack()) == pytest.approx(e.z_max_mm - e.z_min_mm)
    geo = ILDEndcap()
    np.testing.assert_array_equal(geo.layer_depth_mm, ILDRegular().layer_depth_mm)
    assert geo.threshold_mev == 0.1 and geo.cell_size_mm == PITCH and geo.n_layers == 30


def test_every_cell_is_where_the_spec_numbers_put_it(free):
    # One point at each centre the spec's numbers give: each must land in its own live cell, and
    # the geometry must have no other cells (a point in every cell of the layer would find them).
    incident = free.default_incident_point_mm
    points = np.column_stack(
        [ALL_CELLS - incident[:2], np.full(len(ALL_CELLS), 3.5), np.ones(len(ALL_CELLS))]
    )
    hits = free.project(Showers.from_point_lists([points], [50.0]), incident)
    assert hits.losses.dead_mev[0] == 0 and hits.losses.outside_mev[0] == 0
    assert hits.showers.num_points[0] == len(ALL_CELLS)  # one cell per centre, none shared
    centres = free.cell_position_mm(hits.cell_id[0])[:, :2]
    order = np.lexsort(centres.T[::-1])
    expected = ALL_CELLS[np.lexsort(ALL_CELLS.T[::-1])]
    np.testing.assert_allclose(centres[order], expected, atol=2e-3)
    quadrant = CELL_ID_LAYOUT.field(hits.cell_id[0], "quadrant")
    assert np.count_nonzero(quadrant == RING) == len(RING_CELLS)
    assert [np.count_nonzero(quadrant == q) for q in range(4)] == [len(quadrant0_cells())] * 4
    # a fine grid of points over quadrant 0 finds no cell the spec does not have
    a, b = np.meshgrid(np.arange(-H, R, 2.5) + 1.1, np.arange(H, R, 2.5) + 1.3)
    grid = np.column_stack([a.ravel(), b.ravel()])
    grid = grid[in_octagon(grid)]
    grid_points = np.column_stack([grid - incident[:2], np.full(len(grid), 0.5), np.ones(len(grid))])
    found = free.project(Showers.from_point_lists([grid_points], [50.0]), incident)
    assert found.showers.num_points[0] == len(quadrant0_cells())


@pytest.mark.parametrize(
    "where, spread",
    [
        ((H, H), 80.0),  # the hole's corner: ring, its dead border, two quadrants
        ((0.0, H + 565.28), 40.0),  # a module boundary along v in quadrant 0
        ((1600.0, 1300.0), 60.0),  # the octagon's diagonal: slab ends, beyond the outline
        ((H + 10.0, -200.0), 40.0),  # quadrant 3's edge beside the hole
        ((0.0, 250.0), 30.0),  # the ring's inner edge and the beam hole
    ],
)
def test_dead_and_outside_energy_is_where_a_brute_force_count_puts_it(free, where, spread):
    rng = np.random.default_rng(3)
    n = 6000
    ab = np.asarray(where) + rng.uniform(-spread, spread, (n, 2))
    e = rng.exponential(0.5, n)
    incident = free.default_incident_point_mm
    showers = flat_showers(ab - incident[:2], rng.integers(0, 30, n), e)
    e = showers.shower(0)[:, 3].astype(np.float64)  # as stored
    ab = showers.shower(0)[:, :2].astype(np.float64) + incident[:2]

    alive = brute_force_alive(ab)
    in_hole = (np.abs(ab[:, 0]) < H) & (np.abs(ab[:, 1]) < H)
    # outside: beyond the octagon, or down the beam pipe (a ring-grid cell centred under 250 mm)
    grid = (np.floor(ab / 5.0) + 0.5) * 5.0
    pipe = in_hole & (np.hypot(grid[:, 0], grid[:, 1]) < 250)
    outside = ~in_octagon(ab) | pipe
    dead = ~alive & ~outside
    assert np.all(~(alive & outside))
    hits = free.project(showers, incident)
    assert hits.losses.dead_mev[0] == pytest.approx(e[dead].sum(), rel=1e-9, abs=1e-9)
    assert hits.losses.outside_mev[0] == pytest.approx(e[outside].sum(), rel=1e-9, abs=1e-9)
    assert hits.showers.visible_energy_mev[0] == pytest.approx(e[alive].sum(), rel=1e-6)
    assert alive.any() and (dead | outside).any()  # a real test: live and lost points in every region


def test_the_four_quadrants_are_the_same_turned_by_90_degrees(free):
    rng = np.random.default_rng(5)
    local = rng.normal(0, 30, (3000, 2))
    start = np.array([H - 20.0, H + 15.0])  # near the hole's corner: gaps of every kind
    dead = []
    for q in range(4):
        ab = rotate(start[None], q)[0]
        showers = flat_showers(rotate(local, q), 4, np.ones(3000))
        hits = free.project(showers, [ab[0], ab[1], Z0])
        dead.append((hits.losses.dead_mev[0], hits.losses.outside_mev[0], hits.showers.num_points[0]))
    assert all(d == pytest.approx(dead[0]) for d in dead)
    assert dead[0][0] > 100  # plenty of it lands between cells


def test_the_minus_z_endcap_is_the_mirror_of_the_plus_z_one(free):
    rng = np.random.default_rng(6)
    showers = flat_showers(rng.normal(0, 25, (2000, 2)), 7, np.ones(2000))
    plus = free.project(showers, [300.0, 700.0, Z0])
    minus = free.project(showers, [300.0, -700.0, -Z0])  # the same face point (a, b) = (300, 700)
    assert plus.endcap.tolist() == [0] and minus.endcap.tolist() == [1]
    assert plus.showers == minus.showers
    assert np.all(CELL_ID_LAYOUT.field(minus.cell_id[0, : minus.showers.num_points[0]], "endcap") == 1)
    centre = free.cell_centre_mm(minus.cell_id[0, :3])
    assert np.all(centre[:, 2] < -Z0) and np.all(centre[:, 1] < 0)


def test_the_ring_collects_energy_near_the_beam_and_the_pipe_takes_the_rest(free):
    points = np.array([[320.0, 0.0], [0.0, 100.0], [395.0, 0.0]])  # ring cell, beam pipe, ring's border
    showers = flat_showers(points - [300.0, 0.0], 2, [1.0, 2.0, 4.0])
    hits = free.project(showers, [300.0, 0.0, Z0])
    assert hits.part.tolist() == [RING]
    assert hits.showers.visible_energy_mev[0] == pytest.approx(1.0)
    assert hits.losses.outside_mev[0] == pytest.approx(2.0)
    assert hits.losses.dead_mev[0] == pytest.approx(4.0)
    cell = hits.cell_id[0, 0]
    assert CELL_ID_LAYOUT.field(cell, "quadrant") == RING
    np.testing.assert_allclose(free.cell_position_mm(cell)[:2], [322.5, 2.5])


# ----------------------------------------------------------------------------- tilt, frames, field


def test_a_shower_from_the_interaction_point_is_tilted_by_the_depth_of_each_layer(free):
    start = free.default_incident_point_mm
    where = free.locate(start, start / np.linalg.norm(start))  # a photon from the interaction point
    slope = where.direction[:2] / where.direction[2]
    assert (
        where.endcap == 0
        and where.part == 0
        and np.degrees(math.atan(np.hypot(*slope))) == pytest.approx(26.5, abs=0.1)
    )
    points = np.stack([np.zeros(30), np.zeros(30), np.arange(30) + 0.5, np.ones(30)], 1)
    hits = free.project(Showers.from_point_lists([points], [50.0], direction=[where.direction]), start)
    got = hits.showers.shower(0)
    layers = np.floor(got[:, 2]).astype(int)
    on_axis = free.layer_depth_mm[layers, None] * slope  # where the trajectory crosses each layer
    assert np.all(np.abs(got[:, :2] - on_axis) < PITCH / 2 + 1e-3)
    assert hits.losses.dead_mev[0] + len(got) == pytest.approx(30)


def test_locate_finds_endcap_part_and_local_frame(free):
    points = [
        [1000.0, 1000.0, Z0],
        [-1000.0, 300.0, Z0],
        [0.0, 1000.0, -Z0],
        [1200.0, -100.0, -Z0],
        [300.0, 0.0, Z0],
    ]
    where = free.locate(points, [0.0, 0.0, 1.0] * np.ones((5, 1)) * [[1], [1], [-1], [-1], [1]])
    assert where.endcap.tolist() == [0, 0, 1, 1, 0]
    # (a, b) = (x, y) at +z and (x, -y) at -z: (1200, 100) is in quadrant 0's turn by 270 degrees
    assert where.part.tolist() == [0, 1, 2, 3, RING]
    np.testing.assert_allclose(where.point_mm[2:4], [[0.0, -1000.0], [1200.0, 100.0]])
    np.testing.assert_allclose(where.direction, np.tile([0.0, 0.0, 1.0], (5, 1)))
    # the local frame at -z is right-handed: a = x, b = -y, normal = -z
    d = free.locate([0.0, 1000.0, -Z0], [0.6, 0.0, -0.8]).direction
    np.testing.assert_allclose(d, [0.6, 0.0, 0.8])
    assert np.allclose(np.cross([1, 0, 0], [0, -1, 0]), [0, 0, -1])


def test_the_field_is_along_the_shower_axis_in_the_endcap_and_across_it_in_the_barrel():
    assert ILDEndcap.field_direction(0) == (0.0, 0.0, 1.0)
    assert ILDEndcap.field_direction(1) == (0.0, 0.0, -1.0)
    assert ILDEndcapRegular().field_direction == (0.0, 0.0, 1.0)
    assert ILDRegular().field_direction == (1.0, 0.0, 0.0)
    assert ILDEndcapRegular().field_tesla == 3.5
    with pytest.raises(ValueError, match="endcap must be 0"):
        ILDEndcap.field_direction(2)


def test_bad_input_gives_a_clear_error(endcap):
    with pytest.raises(ValueError, match="not on an endcap's front face"):
        endcap.locate([0.0, 1000.0, 2000.0])
    with pytest.raises(ValueError, match="beyond the endcap's outline"):
        endcap.locate([1700.0, 1700.0, Z0])
    with pytest.raises(ValueError, match="beam hole"):
        endcap.locate([100.0, 0.0, Z0])
    with pytest.raises(ValueError, match="out of the calorimeter"):
        endcap.locate([0.0, 1000.0, Z0], [0.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="out of the calorimeter"):
        endcap.locate([0.0, 1000.0, -Z0], [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="unit vectors"):
        endcap.locate([0.0, 1000.0, Z0], [0.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        endcap.locate([np.nan, 1000.0, Z0])
    good = flat_showers(np.zeros((1, 2)), 0, 1.0)
    with pytest.raises(ValueError, match=r"\(3,\) or \(N, 3\)"):
        endcap.project(good, [[0.0, 1000.0, Z0]] * 2)
    with pytest.raises(ValueError, match="out of the calorimeter"):
        endcap.project(flat_showers(np.zeros((1, 2)), 0, 1.0, direction=(0.0, 0.0, -1.0)))
    with pytest.raises(ValueError, match="layer units"):
        endcap.project(Showers.from_point_lists([np.ones((1, 4))], [1.0], z_units="mm"))


# ----------------------------------------------------------------------------- ids, threshold, registry


def test_cell_ids_decode_to_the_cells_positions(endcap):
    toy = calozoo.load("toy-gamma")
    showers = toy.sample([20.0, 40.0], [0.0, 0.0, 1.0], seed=2)
    starts = np.array([[-900.0, 1500.0, Z0], [1300.0, -600.0, -Z0]])
    hits = endcap.project(showers, starts)
    for i in range(2):
        ids = hits.cell_id[i, : hits.showers.num_points[i]]
        assert len(np.unique(ids)) == len(ids)
        fields = CELL_ID_LAYOUT.decode(ids)
        assert np.all(fields["endcap"] == hits.endcap[i]) and np.all(fields["quadrant"] == hits.part[i])
        position = endcap.cell_position_mm(ids)
        face = endcap.locate(starts[i]).point_mm
        np.testing.assert_allclose(hits.showers.shower(i)[:, :2], position[:, :2] - face, atol=2e-3)
        np.testing.assert_allclose(hits.showers.shower(i)[:, 2] - 0.5, fields["layer"])
        z = endcap.cell_centre_mm(ids)[:, 2]
        np.testing.assert_allclose(np.abs(z), Z0 + endcap.layer_depth_mm[fields["layer"]])
    assert np.all(hits.showers.points[..., 3][hits.showers.padding_mask] >= 0.1)
    total = hits.showers.visible_energy_mev + hits.losses.total_mev
    np.testing.assert_allclose(total, showers.visible_energy_mev, rtol=1e-6)


def test_the_endcap_training_directions_land_on_quadrant_0_of_this_geometry(endcap):
    from calozoo.distributions import ENDCAP_FACE_Z_MM, endcap_ip_directions

    assert ENDCAP_FACE_Z_MM == load_facts().endcap.z_min_mm  # the core's constant is the fact
    direction = endcap_ip_directions(2000, np.random.default_rng(4))
    point = ENDCAP_FACE_Z_MM * direction / direction[:, 2:]
    where = endcap.locate(point, direction)
    assert np.all(where.endcap == 0) and np.all(where.part == 0)
    np.testing.assert_allclose(where.direction, direction, atol=1e-12)  # local = global at +z


def test_the_endcaps_are_registered_and_survive_save_and_load(tmp_path):
    geo = calozoo.geometry("ild-ecal-endcap", threshold_mev=0.2)
    assert isinstance(geo, ILDEndcap) and geo.threshold_mev == 0.2
    loaded = ILDEndcap.load(geo.save(tmp_path / "endcap"))
    assert loaded.threshold_mev == 0.2 and loaded.name == "ild-ecal-endcap"
    regular = calozoo.geometry("ild-ecal-endcap-regular")
    assert isinstance(regular, ILDEndcapRegular)
    again = ILDEndcapRegular.load(regular.save(tmp_path / "regular"))
    assert again.field_direction == (0.0, 0.0, 1.0) and again.name == "ild-ecal-endcap-regular"


@pytest.mark.parametrize("threshold", [None, 0.0])
def test_the_endcap_passes_the_conformance_kit_away_from_its_default_point(threshold, tmp_path):
    # the kit's showers at a point near the hole's corner, where every kind of loss happens
    check_geometry(ILDEndcap(threshold_mev=threshold), tmp_path, incident_point_mm=[-380.0, 420.0, -Z0])
