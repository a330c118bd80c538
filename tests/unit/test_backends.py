"""Tier 0: the back-end choice, the partition and the local systems (no MPI needed).

The partition must keep every reaction cluster on one rank (the reaction operator runs a
cluster's SSA as one process), give every element exactly one owner, and the local systems
must hold exactly the owned processes with a consistent exchange plan: every ghost pool a
rank sends is an owned pool of the receiving rank, in the same order on both sides.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.backends.partition import local_systems, partition_elements, reaction_components
from tetrasim.backends.registry import resolve_backend_name
from tetrasim.errors import CapabilityError, SimulationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mpi"))
from mpi_model import build  # noqa: E402


@pytest.fixture(scope="module")
def compiled():
    sim, _ = build("serial")
    return sim.compiled


def test_backend_name_from_argument_and_launcher(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_backend_name(None) == "serial"
    monkeypatch.setenv("PMI_SIZE", "1")
    assert resolve_backend_name(None) == "serial"
    monkeypatch.setenv("PMI_SIZE", "4")
    assert resolve_backend_name(None) == "mpi"
    assert resolve_backend_name("serial") == "serial"
    with pytest.raises(CapabilityError, match="did you mean 'mpi'"):
        resolve_backend_name("mpj")


def test_partition_needs_the_mpi_backend():
    with pytest.raises(SimulationError, match="backend='mpi'"):
        build("serial", partition=np.zeros(96, np.int64))


@pytest.mark.parametrize("n_parts", [2, 3, 4])
def test_metis_partition_keeps_reaction_clusters_whole_and_is_balanced(compiled, n_parts):
    pytest.importorskip("pymetis")
    owner = partition_elements(compiled, n_parts)
    assert owner.shape == (compiled.n_elements,) and set(np.unique(owner)) == set(range(n_parts))
    label = reaction_components(compiled)
    for cluster in np.unique(label):
        assert len(np.unique(owner[label == cluster])) == 1
    # surface reactions bind each membrane triangle to its inner tet
    disc = compiled.discretization
    assert np.array_equal(owner[compiled.n_volume :], owner[disc.surface_inner])
    tets = np.bincount(owner[: compiled.n_volume], minlength=n_parts)
    assert tets.max() <= 1.5 * compiled.n_volume / n_parts  # METIS balances tets within its tolerance


def test_user_partition_is_followed_by_triangles(compiled):
    tet_owner = np.arange(compiled.n_volume) % 3
    owner = partition_elements(compiled, 3, tet_owner)
    assert np.array_equal(owner[: compiled.n_volume], tet_owner)
    assert np.array_equal(owner[compiled.n_volume :], tet_owner[compiled.discretization.surface_inner])
    with pytest.raises(SimulationError, match="one integer rank per tet"):
        partition_elements(compiled, 3, np.zeros(5, np.int64))
    with pytest.raises(SimulationError, match=r"0\.\.2"):
        partition_elements(compiled, 3, np.full(compiled.n_volume, 3))


@pytest.mark.parametrize("n_parts", [1, 2, 4])
def test_local_systems_cover_every_process_once_with_a_matching_exchange_plan(compiled, n_parts):
    c = compiled
    owner = np.arange(c.n_elements) % n_parts if n_parts > 1 else np.zeros(c.n_elements, np.int64)
    owner[c.n_volume :] = owner[c.discretization.surface_inner]
    parts = local_systems(c, owner, n_parts)
    S = c.n_species  # noqa: N806
    owned = np.concatenate([p["global_elements"][: p["n_owned"]] for p in parts])
    assert np.array_equal(np.sort(owned), np.arange(c.n_elements))
    assert sum(p["system"].n_reactions for p in parts) == c.n_reactions
    assert sum(p["system"].n_diffusions for p in parts) == c.n_diffusions
    for rank, part in enumerate(parts):
        g = part["global_elements"]
        n_owned = part["n_owned"]
        assert np.all(np.diff(g[:n_owned]) > 0)  # owned in increasing global id: local min = global min
        local = part["system"]
        def global_pool(pools, g=g):
            return g[np.asarray(pools) // S] * S + np.asarray(pools) % S
        assert np.all(np.asarray(local.df_pool) // S < n_owned)  # only owned pools diffuse out
        assert np.all(np.asarray(local.rx_upd_pool) // S < n_owned)  # reactions stay on their rank
        for q, pools in part["send"].items():
            assert np.all(np.asarray(pools) // S >= n_owned)  # ghosts only
            received = parts[q]["receive"][rank]
            assert np.array_equal(
                global_pool(pools), parts[q]["global_elements"][received // S] * S + received % S
            )
    if n_parts == 1:
        assert parts[0]["send"] == {} and len(parts[0]["global_elements"]) == c.n_elements


def test_simulation_reports_its_backend():
    sim, _ = build(None)
    assert sim.backend.name == "serial" and sim.backend.is_root
    assert isinstance(sim, ts.Simulation)
