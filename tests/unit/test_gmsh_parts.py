"""One file of a pre-split Gmsh 4.1 set (no MPI): the partition's tets with the unsplit mesh's tags.

The set is written by gmsh itself (``Mesh.PartitionSplitMeshFiles=1``) from a box of two
physical volumes and a physical surface; every file is checked against the serial reader of
the unsplit file: the tets' tags, their nodes' coordinates (bit for bit), their groups, and
the patch triangles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gmsh")

from tetrasim import load_mesh  # noqa: E402
from tetrasim.errors import MeshFormatError  # noqa: E402
from tetrasim.geometry.gmsh_parts import read_gmsh_part, split_file_name  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mpi"))
from split_model import make_meshes  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::tetrasim.errors.GeometryWarning")


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    return make_meshes(tmp_path_factory.mktemp("split"), [2, 3, "2g"])


def test_split_file_name():
    assert split_file_name("/data/box.msh", 3) == Path("/data/box_3.msh")


@pytest.mark.parametrize("n", [2, 3, "2g"])  # 2g: with Gmsh's ghost cells, which are skipped
def test_each_file_holds_its_partition_with_the_unsplit_tags(meshes, n):
    whole = load_mesh(meshes / "box.msh", "um")
    tags = np.asarray(whole.element_ids)  # the serial reader numbers tets by increasing tag
    assert (np.diff(tags) > 0).all()
    seen = np.zeros(whole.n_tets, int)
    pm_tris = 0
    parts = int(str(n).rstrip("g"))
    for k in range(1, parts + 1):
        part = read_gmsh_part(split_file_name(meshes / str(n) / "box.msh", k), "um")
        assert (part.partition, part.n_partitions) == (k, parts)
        assert (np.diff(part.tet_tags) > 0).all()
        ids = np.searchsorted(tags, part.tet_tags)
        assert np.array_equal(tags[ids], part.tet_tags)
        seen[ids] += 1
        rows = np.argsort(part.node_tags)[np.searchsorted(np.sort(part.node_tags), part.tet_nodes)]
        assert np.array_equal(part.nodes[rows], whole.vertices[whole.tets[ids]])  # same bits, same corners
        for name in ("left", "right"):
            member = np.isin(ids, whole.group(name))
            assert np.array_equal(np.flatnonzero(member), part.tet_groups.get(name, np.zeros(0, int)))
        pm_tris += len(part.tri_groups.get("pm", []))
        assert set(part.tri_groups) <= {"pm"}
    assert (seen == 1).all()  # every tet in exactly one file
    assert pm_tris == len(whole.tri_group("pm"))


def test_unsplit_or_missing_files_are_refused(meshes):
    with pytest.raises(MeshFormatError, match="not a partitioned Gmsh file .*PartitionSplitMeshFiles=1"):
        read_gmsh_part(meshes / "box.msh", "um")
    with pytest.raises(MeshFormatError, match="no such file"):
        read_gmsh_part(meshes / "2" / "box_3.msh", "um")
