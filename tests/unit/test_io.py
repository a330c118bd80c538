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


# ---------------------------------------------------------------------------- truncation (issue 15.2)
# the same mesh inside *PART ... *END PART, with an assembly and a step after it, as exporters write it
ABAQUS_PARTS = (
    "*HEADING\ntest with parts\n*PART, NAME=P1\n"
    + ABAQUS[ABAQUS.index("*NODE") : ABAQUS.index("*END STEP")]
    + "*SOLID SECTION, ELSET=UP, MATERIAL=M\n*END PART\n*ASSEMBLY, NAME=A\n*INSTANCE, NAME=P1_1, PART=P1\n"
    "*END INSTANCE\n*END ASSEMBLY\n*STEP, NAME=S\n*STATIC\n1, 1, 1e-05, 1\n*END STEP\n"
)


def _mesh_sources(tmp_path) -> dict[str, bytes]:
    """One small file per reader (TetGen: each of its three files), all the same three-tet mesh."""
    import meshio

    m = TetMesh.from_arrays(PTS, TETS, length_unit="um", groups={"a": [0, 1]})
    sources = {
        "g22.msh": GMSH22.encode(),
        "flat.inp": ABAQUS.encode(),
        "parts.inp": ABAQUS_PARTS.encode(),
        "g41.msh": m.save(tmp_path / "src41.msh", length_unit="um").read_bytes(),
        "nat.npz": m.save(tmp_path / "src.npz").read_bytes(),
    }
    cells = [("tetra", TETS)]
    mesh = meshio.Mesh(PTS, cells, cell_data={"r": [np.array([1, 1, 2])]})
    meshio.write(str(tmp_path / "src.vtu"), mesh)
    meshio.write(str(tmp_path / "bin.vtk"), mesh)
    meshio.write(str(tmp_path / "asc.vtk"), mesh, binary=False)
    sources["v.vtu"] = (tmp_path / "src.vtu").read_bytes()
    sources["bin.vtk"] = (tmp_path / "bin.vtk").read_bytes()
    sources["asc.vtk"] = (tmp_path / "asc.vtk").read_bytes()
    for ext, text in TETGEN.items():
        sources[f"tg{ext}"] = text.encode()
    return sources


def _load_variant(folder, name, data):
    folder.mkdir()
    if name.startswith("tg"):
        for ext, text in TETGEN.items():
            (folder / f"tg{ext}").write_text(text)
    (folder / name).write_bytes(data)
    target = folder / ("tg.ele" if name.startswith("tg") else name)
    return TetMesh.load(target, length_unit=None if name.endswith(".npz") else "um")


def _assert_same_mesh(cut, full, *, with_groups=True):
    assert cut.n_tets == full.n_tets and cut.n_vertices == full.n_vertices
    np.testing.assert_array_equal(cut.vertices, full.vertices)
    np.testing.assert_array_equal(cut.tets, full.tets)
    if with_groups:
        for attribute in ("groups", "tri_groups"):
            got, want = getattr(cut, attribute), getattr(full, attribute)
            assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in want.items()}


@pytest.mark.parametrize(
    "name",
    ["g22.msh", "g41.msh", "flat.inp", "parts.inp", "tg.node", "tg.ele", "tg.face", "nat.npz", "v.vtu",
     "bin.vtk", "asc.vtk"],
)
def test_a_file_cut_anywhere_never_loads_as_a_smaller_mesh(tmp_path, name):
    """Every reader, every cut point (each byte): a typed error, or the complete mesh (issue 15.2).

    A cut that loses only what follows the mesh (trailing keywords, a final newline) may load;
    anything else must raise. Formats without an end marker cannot reveal a cut that drops a
    whole optional trailing section: the ``*ELSET`` blocks after the elements of a flat Abaqus
    file (no ``*PART``) and the ``CELL_DATA`` of a legacy VTK file. There only the vertices and
    tets must be complete (groups may be lost, never elements).
    """
    data = _mesh_sources(tmp_path)[name]
    full = _load_variant(tmp_path / "full", name, data)
    loaded = 0
    for cut in range(len(data)):
        try:
            m = _load_variant(tmp_path / f"cut{cut}", name, data[:cut])
        except (MeshFormatError, GeometryError):
            continue
        loaded += 1
        _assert_same_mesh(m, full, with_groups=name not in ("flat.inp", "bin.vtk", "asc.vtk"))
    assert loaded < len(data) // 2  # most cuts must fail (guards against a test that loads nothing cut)


def _reference_inp():
    import os
    from pathlib import Path

    env = os.environ.get("TETRASIM_DATA")
    root = Path(env) if env else Path(__file__).parents[2].parent / "shared" / "data"
    path = root / "meshes" / "astrocyte" / "5nodes_ratio1.inp"
    if not path.exists():
        pytest.skip(f"published mesh {path} absent (set TETRASIM_DATA)")
    return path


def test_the_published_branchlet_cut_short_is_rejected(tmp_path):
    """The issue's case (first 15,951 lines gave 10,322 of 26,221 tets) and cuts all through the file."""
    path = _reference_inp()
    lines = path.read_text().split("\n")
    full = TetMesh.load(path, length_unit="nm")
    assert full.n_tets == 26221
    cut_file = tmp_path / "cut.inp"
    cut_file.write_text("\n".join(lines[:15951]) + "\n")
    with pytest.raises(MeshFormatError, match=r"\*PART, NAME=Part-Default \(line 6\) is never closed.*EB37"):
        TetMesh.load(cut_file, length_unit="nm")
    end_part = lines.index("*END PART")
    cuts = sorted(set(np.linspace(10, end_part, 40).astype(int).tolist()) | {5620, 5630, 15951})
    for n in cuts:  # whole lines kept, as a copy that stopped at a line boundary
        cut_file.write_text("\n".join(lines[:n]) + "\n")
        with pytest.raises(MeshFormatError, match="truncated|never closed"):
            TetMesh.load(cut_file, length_unit="nm")
    cut_file.write_text("\n".join(lines[:15950]) + "\n" + lines[15950][:17])  # inside a line
    with pytest.raises(MeshFormatError, match="middle of this line"):
        TetMesh.load(cut_file, length_unit="nm")


def test_unused_nodes_are_an_error_that_says_where(tmp_path):
    """A flat file that lost its last element block: nodes no tet uses, named by id and line."""
    p = tmp_path / "lost.inp"
    p.write_text(ABAQUS.split("*ELEMENT, TYPE=C3D4, ELSET=LOW")[0])
    with pytest.raises(MeshFormatError, match=r"lost.inp, line 9: 1 of 6 nodes are not a vertex.*ids 6\b"):
        TetMesh.load(p, length_unit="um")
    m = TetMesh.load(p, length_unit="um", drop_unused_nodes=True)
    assert m.n_vertices == 5 and m.n_tets == 2
    g = tmp_path / "lost.msh"  # the same check guards every reader
    g.write_text(GMSH22.replace("5\n1 15", "4\n1 15").replace("5 4 2 8 2 1 3 2 6\n", ""))
    with pytest.raises(MeshFormatError, match=r"lost.msh, line 16: 1 of 6 nodes.*ids 6\b"):
        TetMesh.load(g, length_unit="um")


def test_abaqus_structure_errors(tmp_path):
    p = tmp_path / "s.inp"
    p.write_text(ABAQUS_PARTS.replace("*END INSTANCE\n", ""))  # *END ASSEMBLY closes the open instance
    with pytest.raises(MeshFormatError, match=r"line 22: \*END ASSEMBLY while \*INSTANCE"):
        TetMesh.load(p, length_unit="um")
    p.write_text(ABAQUS_PARTS.replace(" 10, 12\n", " 10, 12, 77\n"))
    with pytest.raises(MeshFormatError, match="'BOTH' lists element 77"):
        TetMesh.load(p, length_unit="um")
    first = "*ELEMENT, TYPE=C3D4, ELSET=UP"
    p.write_text(ABAQUS_PARTS.replace(first, "*NSET, NSET=N\n 1, 9\n" + first))
    with pytest.raises(MeshFormatError, match=r"line 11: \*NSET N lists 1 nodes that are not defined"):
        TetMesh.load(p, length_unit="um")


@pytest.mark.filterwarnings("default::tetrasim.errors.GeometryWarning")
def test_nanometres_read_as_micrometres_warn_and_name_the_unit(tmp_path):
    """A 6.6 um branchlet in nm read as um (64 um edges, 6.6 mm long) warns and suggests 'nm' (issue 15.3)."""
    from tetrasim.errors import LengthUnitWarning

    pts = PTS * 64.0
    long = np.vstack([pts, pts[:4] + [6600.0, 0, 0]])
    tets = np.vstack([TETS, [[6, 7, 8, 9]]])
    expected = r"extends over 6.6\d* mm.*fit length_unit='nm'.*extent 6.6\d* µm"
    with pytest.warns(LengthUnitWarning, match=expected):
        TetMesh.from_arrays(long, tets, length_unit="um")
    with pytest.warns(LengthUnitWarning, match=r"median edge is 64 µm.*length_unit='nm'"):
        TetMesh.from_arrays(pts, TETS, length_unit="um")  # short but coarse: the edge alone
    spread = np.vstack([PTS * 5, PTS[:4] * 5 + [2000.0, 0, 0]])  # 5 um edges over 2 mm: the extent alone
    with pytest.warns(LengthUnitWarning, match=r"extends over 2 mm.*fit length_unit='nm'"):
        TetMesh.from_arrays(spread, tets, length_unit="um")
    with pytest.warns(LengthUnitWarning, match="fit length_unit='um'"):
        TetMesh.from_arrays(PTS * 0.5, TETS, length_unit="nm")  # 0.5 nm edges: um was meant
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", LengthUnitWarning)
        TetMesh.from_arrays(PTS * 64.0, TETS, length_unit="nm")  # plausible: silent
        TetMesh.from_arrays(PTS * 8.0, TETS, length_unit="um")


def test_mesh_info_shows_the_unit_warning(tmp_path, capsys):
    from tetrasim.cli import main

    p = tmp_path / "nm.inp"
    node_lines = "".join(f" {k + 1}, {x:g}, {y:g}, {z:g}\n" for k, (x, y, z) in enumerate(PTS * 64))
    head, rest = ABAQUS.split("*NODE, NSET=ALL\n")
    p.write_text(head + "*NODE, NSET=ALL\n" + node_lines + rest[rest.index("*ELEMENT"):])  # in nm
    assert main(["mesh-info", str(p), "--length-unit", "um"]) == 0
    out = capsys.readouterr().out
    assert "warning:" in out and "length_unit='nm'" in out
    assert main(["mesh-info", str(p), "--length-unit", "nm"]) == 0
    assert "warning" not in capsys.readouterr().out
