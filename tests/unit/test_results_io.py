"""Results on disk: HDF5 round trip, atomic writes, schema versions, xarray export."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import tetrasim as ts
from tetrasim.recording.results import SCHEMA_VERSION, RecordedSeries, Results


def _simulated(runs=3, seed=11):
    model = ts.Model()
    model.species("A", "B")
    model.volume_system("v").reaction("A <-> B", kf=20.0, kb=5.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=seed)
    sim.set_count("c", "A", 200)
    count = sim.record(ts.Count("A", where="c"), every=0.01)
    conc = sim.record(ts.Conc("B", where="c"), every=0.02)
    return sim.run(0.2, runs=runs), count, conc


def _handmade():
    rng = np.random.default_rng(0)
    series = {
        "total": RecordedSeries("total", "count", "Ca", "cyto", "molecules", np.linspace(0, 1, 5),
                                rng.integers(0, 100, size=(2, 5))),
        "per_tet": RecordedSeries("per_tet", "conc", "Ca", "ROI('spine')", "M", np.array([0.0, 0.5]),
                                  rng.random((2, 2, 3)) * 1e-6, elements=np.array([4, 7, 9])),
    }
    return Results(series, seed=5, solver="ssa", model_hash="abc123", version=ts.__version__, runs=2,
                   meta={"t_end": 1.0, "note": "hand made"})


def _assert_same(a: Results, b: Results):
    assert sorted(a.keys()) == sorted(b.keys())
    for attribute in ("seed", "solver", "model_hash", "version", "runs"):
        assert getattr(a, attribute) == getattr(b, attribute)
    for name in a:
        sa, sb = a.series_of(name), b.series_of(name)
        np.testing.assert_array_equal(sa.data, sb.data)
        assert sa.data.dtype == sb.data.dtype
        np.testing.assert_array_equal(sa.times, sb.times)
        assert (sa.quantity, sa.species, sa.where, sa.unit) == (sb.quantity, sb.species, sb.where, sb.unit)
        if sa.elements is None:
            assert sb.elements is None
        else:
            np.testing.assert_array_equal(sa.elements, sb.elements)


def test_round_trip_of_simulated_results(tmp_path):
    res, count, conc = _simulated()
    path = res.save(tmp_path / "run.h5")
    loaded = ts.load_results(path)
    _assert_same(res, loaded)
    assert loaded[count].shape == (3, 21) and loaded[conc].shape == (3, 11)  # the recorder handle indexes
    assert loaded.meta["t_end"] == pytest.approx(0.2)
    np.testing.assert_array_equal(loaded.times_of(count), res.times_of(count))


def test_round_trip_keeps_element_axis_and_metadata(tmp_path):
    res = _handmade()
    (tmp_path / "sub").mkdir()  # save() does not create folders (issue 15 item 8)
    loaded = ts.load_results(res.save(tmp_path / "sub" / "hand.h5"))
    _assert_same(res, loaded)
    assert loaded["per_tet"].shape == (2, 2, 3)
    assert loaded.meta["note"] == "hand made"


def test_round_trip_keeps_recorder_order(tmp_path):
    res = _handmade()  # recorders in the order "total", "per_tet": not alphabetical
    loaded = ts.load_results(res.save(tmp_path / "order.h5"))
    assert list(loaded.keys()) == ["total", "per_tet"]
    np.testing.assert_array_equal(loaded.times, res.times)


def test_saved_file_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = _handmade().save(tmp_path / "shared.h5")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_results_without_seed_round_trip(tmp_path):
    res = _handmade()
    res.seed = None
    assert ts.load_results(res.save(tmp_path / "x.h5")).seed is None


def test_failed_save_leaves_existing_file_untouched(tmp_path):
    good = _handmade()
    path = tmp_path / "results.h5"
    good.save(path)
    before = path.read_bytes()
    bad = _handmade()
    bad.series["total"].data = np.array([[object(), object()]], dtype=object)  # h5py cannot store this
    with pytest.raises(TypeError):
        bad.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["results.h5"]  # no temporary file left behind
    _assert_same(good, ts.load_results(path))


def test_save_over_existing_file_replaces_it(tmp_path):
    path = tmp_path / "results.h5"
    _handmade().save(path)
    res, count, _ = _simulated(runs=1)
    res.save(path)
    assert ts.load_results(path)[count].shape == (1, 21)


def test_schema_version_mismatch_is_a_clear_error(tmp_path):
    path = _handmade().save(tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ts.SimulationError, match="schema version"):
        ts.load_results(path)


def test_loading_garbage_or_missing_file_is_a_clear_error(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5" * 10)
    with pytest.raises(ts.SimulationError, match="not a readable tetrasim HDF5"):
        ts.load_results(garbage)
    with pytest.raises(ts.SimulationError, match="no results file"):
        ts.load_results(tmp_path / "absent.h5")


def test_unknown_recorder_name_suggests_the_close_one():
    with pytest.raises(ts.SimulationError, match="did you mean 'total'"):
        _handmade()["totl"]


def test_to_xarray_keeps_every_axis_units_and_provenance():
    pytest.importorskip("xarray")
    res = _handmade()
    ds = res.to_xarray()
    total, per_tet = ds["total"], ds["per_tet"]
    assert total.dims == ("run", "time_total")
    assert per_tet.dims == ("run", "time_per_tet", "element_per_tet")
    np.testing.assert_array_equal(total.values, res["total"])
    np.testing.assert_array_equal(per_tet.values, res["per_tet"])
    np.testing.assert_array_equal(ds["time_total"].values, res.times_of("total"))
    np.testing.assert_array_equal(ds["element_per_tet"].values, [4, 7, 9])
    assert total.attrs["units"] == "molecules" and per_tet.attrs["units"] == "M"
    assert per_tet.attrs["species"] == "Ca" and per_tet.attrs["where"] == "ROI('spine')"
    assert ds.attrs["seed"] == 5 and ds.attrs["solver"] == "ssa" and ds.attrs["model_hash"] == "abc123"
    assert ds.attrs["schema_version"] == SCHEMA_VERSION and ds.attrs["tetrasim_version"] == ts.__version__


def test_to_xarray_of_simulation_mean_over_runs():
    pytest.importorskip("xarray")
    res, count, _ = _simulated(runs=4)
    ds = res.to_xarray()
    np.testing.assert_allclose(ds[count.name].mean("run").values, res[count].mean(axis=0))
