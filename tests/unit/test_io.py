"""Mesh readers and writers: round trips for every format and a fuzz test of damaged files."""

from __future__ import annotations

import numpy as np
import pytest

from tetrasim.errors import GeometryError, MeshFormatError
from tetrasim.geometry import TetMesh, mesh_info

pytestmark = pytest.mark.filterwarnings("ignore::tetrasim.errors.GeometryWarning")

PTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, -1]], float)
TETS = np.array([[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 1, 5]])

GMSH22 = """$MeshFormat
2.2 0 8
$EndMeshFormat
$PhysicalNames
2
3 7 "upper"
2 9 "skin"
$EndPhysicalNames
$Nodes
6
1 0 0 0
2 1 0 0
3 0 1 0
4 0 0 1
5 1 1 1
6 0 0 -1
$EndNodes
$Elements
5
1 15 2 0 1 1
2 2 2 9 1 1 2 6
3 4 2 7 1 1 2 3 4
4 4 2 7 1 2 3 4 5
5 4 2 8 2 1 3 2 6
$EndElements
"""

ABAQUS = """*HEADING
test
*NODE, NSET=ALL
 1, 0, 0, 0
 2, 1, 0, 0
 3, 0, 1, 0
 4, 0, 0, 1
 5, 1, 1, 1
 6, 0, 0, -1
*ELEMENT, TYPE=C3D4, ELSET=UP
 10, 1, 2, 3, 4
 11, 2, 3, 4, 5
*ELEMENT, TYPE=C3D4, ELSET=LOW
 12, 1, 3, 2, 6
*ELSET, ELSET=BOTH
 10, 12
*END STEP
"""

TETGEN = {
    ".node": "# nodes\n6 3 0 0\n1 0 0 0\n2 1 0 0\n3 0 1 0\n4 0 0 1\n5 1 1 1\n6 0 0 -1\n",
    ".ele": "3 4 1\n1 1 2 3 4 1\n2 2 3 4 5 1\n3 1 3 2 6 2\n",
    ".face": "1 1\n1 1 2 6 5\n",
}


def _check_small(m: TetMesh, scale=1e-6):
    assert m.n_tets == 3
    assert m.total_volume == pytest.approx(2 / 3 * scale**3)


def test_gmsh22(tmp_path):
    p = tmp_path / "m.msh"
    p.write_text(GMSH22)
    m = TetMesh.load(p, length_unit="um")
    _check_small(m)
    assert m.group("upper").tolist() == [0, 1] and m.group("8").tolist() == [2]
    assert m.tri_group("skin").size == 1


def test_abaqus(tmp_path):
    p = tmp_path / "m.inp"
    p.write_text(ABAQUS)
    m = TetMesh.load(p, length_unit="um")
    _check_small(m)
    assert m.group("UP").tolist() == [0, 1] and m.group("BOTH").tolist() == [0, 2]
    assert m.element_ids.tolist() == [10, 11, 12]


def test_tetgen(tmp_path):
    for ext, text in TETGEN.items():
        (tmp_path / f"m{ext}").write_text(text)
    m = TetMesh.load(tmp_path / "m.ele", length_unit="um")
    _check_small(m)
    assert m.group("region2").tolist() == [2]
    assert m.tri_group("marker5").size == 1


@pytest.mark.parametrize("ext", [".vtu", ".vtk"])
def test_vtk_via_meshio(tmp_path, ext):
    import meshio

    p = tmp_path / f"m{ext}"
    meshio.write(str(p), meshio.Mesh(PTS, [("tetra", TETS)], cell_data={"region": [np.array([1, 1, 2])]}))
    m = TetMesh.load(p, length_unit="um")
    _check_small(m)
    assert m.group("region=2").tolist() == [2]


def test_roundtrips(tmp_path):
    m = TetMesh.from_arrays(
        PTS,
        TETS,
        length_unit="um",
        groups={"a": [0, 1], "b": [2], "all": [0, 1, 2]},
        tri_groups={"s": [[0, 1, 5]]},
    )
    for name, unit in (("m.npz", None), ("m.msh", "um")):
        p = m.save(tmp_path / name, length_unit=unit or "m")
        back = TetMesh.load(p, length_unit=unit)
        np.testing.assert_allclose(back.vertices, m.vertices, rtol=1e-15, atol=0)
        assert (back.tets == m.tets).all()
        assert {k: v.tolist() for k, v in back.groups.items()} == {k: v.tolist() for k, v in m.groups.items()}
        assert back.tri_groups["s"].tolist() == m.tri_groups["s"].tolist()
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize(["-noenv"], readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(tmp_path / "m.msh"))
        gmsh.option.setNumber("Mesh.Binary", 1)
        gmsh.write(str(tmp_path / "bin.msh"))
    finally:
        gmsh.finalize()
    back = TetMesh.load(tmp_path / "bin.msh", length_unit="um")
    _check_small(back)
    assert back.tet_volumes[back.group("a")].sum() == pytest.approx(m.tet_volumes[[0, 1]].sum())


def test_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.msh"
    p.write_text(GMSH22.replace("4 4 2 7 1 2 3 4 5", "4 4 2 7 1 2 3 4 99"))
    with pytest.raises(MeshFormatError, match="bad.msh.*tetrahedron 4 refers to node 99"):
        TetMesh.load(p, length_unit="um")
    p.write_text(GMSH22.replace("3 0 1 0", "3 0 x 0"))
    with pytest.raises(MeshFormatError, match="bad.msh, line 13"):
        TetMesh.load(p, length_unit="um")
    p.write_text(GMSH22.replace("5 4 2 8 2 1 3 2 6", "5 5 2 8 2 1 3 2 6 1 2 3 4"))
    with pytest.raises(MeshFormatError, match="hexahedron"):
        TetMesh.load(p, length_unit="um")
    p.write_text(GMSH22.replace("5 4 2 8 2 1 3 2 6", "5 4 2 8 2 1 2 3 6"))
    with pytest.raises(GeometryError, match="inverted.*element id 5"):
        TetMesh.load(p, length_unit="um")
    with pytest.raises(GeometryError, match="length_unit is required"):
        TetMesh.load(p)
    with pytest.raises(MeshFormatError, match="no such file"):
        TetMesh.load(tmp_path / "nope.msh", length_unit="um")
    with pytest.raises(MeshFormatError, match="extension"):
        TetMesh.load(tmp_path / "x.stl", length_unit="um")


def test_mesh_info(tmp_path):
    p = tmp_path / "m.inp"
    p.write_text(ABAQUS)
    text = mesh_info(p, "um")
    assert "tets        3" in text and "UP" in text and "volume" in text


def _variants(data: bytes, rng) -> list[bytes]:
    out = [data[: len(data) * k // 8] for k in range(8)]
    for _ in range(12):
        b = bytearray(data)
        for _ in range(rng.integers(1, 6)):
            i = int(rng.integers(0, len(b)))
            b[i] = int(rng.choice([ord("x"), ord("-"), ord("9"), ord(" "), ord("\n"), 0, ord(","), ord("$")]))
        out.append(bytes(b))
        lines = data.split(b"\n")
        i = int(rng.integers(0, len(lines)))
        out.append(b"\n".join(lines[:i] + lines[i + 1 :]))
    return out


def test_fuzz_every_format_gives_typed_errors(tmp_path):
    """Truncated / corrupted files end in a typed error (or a valid mesh), never a crash or a hang."""
    import meshio

    m = TetMesh.from_arrays(PTS, TETS, length_unit="um", groups={"a": [0, 1]})
    sources = {
        "g22.msh": GMSH22.encode(),
        "inp.inp": ABAQUS.encode(),
        "g41.msh": m.save(tmp_path / "src41.msh", length_unit="um").read_bytes(),
        "nat.npz": m.save(tmp_path / "src.npz").read_bytes(),
    }
    meshio.write(str(tmp_path / "src.vtu"), meshio.Mesh(PTS, [("tetra", TETS)]))
    meshio.write(str(tmp_path / "src.vtk"), meshio.Mesh(PTS, [("tetra", TETS)]))
    sources["v.vtu"] = (tmp_path / "src.vtu").read_bytes()
    sources["v.vtk"] = (tmp_path / "src.vtk").read_bytes()
    for ext, text in TETGEN.items():
        sources[f"tg{ext}"] = text.encode()
    rng = np.random.default_rng(1)
    n = 0
    for name, data in sources.items():
        for bad in _variants(data, rng):
            d = tmp_path / f"f{n}"
            d.mkdir()
            n += 1
            if name.startswith("tg"):
                for ext, text in TETGEN.items():
                    (d / f"tg{ext}").write_text(text)
            (d / name).write_bytes(bad)
            target = d / ("tg.ele" if name.startswith("tg") else name)
            try:
                TetMesh.load(target, length_unit=None if name.endswith(".npz") else "um")
            except (MeshFormatError, GeometryError):
                pass
