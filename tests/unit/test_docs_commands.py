"""Every command in README.md and docs/ runs: the fenced ``bash`` and ``python`` blocks, as printed.

How it works
------------
* Each fenced block of README.md and docs/**/*.md is collected. A block must say its language:
  ``python`` and ``bash`` blocks are run; ``text`` (formulas, signatures, output) is not. An
  unlabelled block fails :func:`test_every_block_says_what_it_is`, so a new command cannot slip
  in untested.
* The ``python`` blocks of one document run as one script, top to bottom (a guide's later
  snippets use the names of its earlier ones), in a fresh interpreter. Each ``bash`` block runs
  as one ``bash -e`` script. Both run in a scratch folder that looks like a checkout: ``examples/``,
  ``benchmarks/``, ``scripts/`` link to the repository, ``.venv/bin/{python,tetrasim,ruff}``
  are this interpreter, and the files a command names (``branch.msh``, ``my_model.py``) exist.
* Commands too long for the default suite are listed in :data:`REDUCED` with what runs
  instead (the same command with smaller arguments); the full commands run in the ``slow``
  tier (``make validate``), except those in :data:`ALWAYS` (``make test`` and ``make validate``
  are the suites that run this file; hours-long study settings).
* ``make TARGET`` lines are checked against the Makefile (``make -n``) and replaced by the
  command its recipe runs, so the check never creates a virtual environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
RUN = {"python", "bash"}
NOT_RUN = {"text"}
pytestmark = pytest.mark.skipif(not (REPO / "docs").is_dir(), reason="docs/ is not beside the tests")

# (document, text in a block, what runs instead, why). Applied in both tiers.
ALWAYS = [
    ("docs/concepts/parallel.md", "mpiexec -n 64 python model.py", "mpiexec -n 2 python model.py",
     "64 ranks on a cluster; here 2 (oversubscribed cores are fine for the check)"),
    ("docs/examples/astrocyte_calcium.md", "--seeds 20 ",
     "--seeds 1 --t-baseline 0.004 --t-after 0.002 --geometries d0 --workers 1 --n-sigma 4 --smooth 1 ",
     "the study is hours of exact SSA per seed (docs/examples/astrocyte_calcium.md, Cost); 4 ms of "
     "baseline cannot derive a threshold, so n is given"),
    ("docs/examples/astrocyte_calcium.md", "astrocyte_calcium_cost.py --t 0.01 --solvers ssa",
     "astrocyte_calcium_cost.py --t 0.0002 --repeats 1 --solvers ssa",
     "the measurement is minutes of exact SSA"),
    ("docs/examples/astrocyte_calcium.md",
     '--geometries d0 d0/2 d0/3 "published d0" "published d0/2" "published d0/3"', "--geometries d0",
     "every geometry is minutes, and the published meshes are reference data a fresh clone lacks"),
    ("docs/examples/astrocyte_calcium.md",
     "astrocyte_calcium_cost.py --t 0.02 --solvers ssa --geometries d0 d0/2 d0/3",
     "astrocyte_calcium_cost.py --t 0.0002 --repeats 1 --solvers ssa --geometries d0",
     "the measurement is minutes of exact SSA"),
    ("README.md", "make test ", ": make test ",
     "`make test` is the default suite: it runs this file (and these blocks) itself"),
    ("docs/index.md", "make test ", ": make test ", "the default suite runs this file"),
    ("docs/index.md", "make validate ", ": make validate ",
     "`make validate` is the slow tier that runs this file's full variant"),
    ("docs/index.md", "make demo ", "tetrasim demo ", "the recipe of `make demo` (checked with make -n)"),
    ("README.md", "make demo ", "tetrasim demo ", "the recipe of `make demo` (checked with make -n)"),
    ("docs/index.md", "make lint ", "ruff check src tests ", "the recipe of `make lint`"),
    ("docs/index.md", "make bench ",
     'for script in benchmarks/[!_]*.py; do python "$script" || exit 1; done ',
     "the recipe of `make bench` with this interpreter"),
    ("docs/examples/frap.md", "--solver ssa --runs 3 ", "--solver ssa --runs 3 --conc 2e-7 --t-end 0.05 ",
     "the full setting is hours of exact SSA (the example prints its estimate first)"),
    ("docs/examples/frap.md", 'out_dir="figures")', 'out_dir="figures", t_end=0.05, conc=2e-7)',
     "the full setting is hours of exact SSA"),
]
# (document, text in a block, what runs instead in the default suite). The slow tier runs the text.
REDUCED = [
    ("docs/examples/astrocyte_calcium.md", "--seeds 2 --t-baseline 0.1 --t-after 0.05 ",
     "--seeds 1 --t-baseline 0.004 --t-after 0.002 --workers 1 --smooth 1 "),
    ("README.md", "make demo ", "tetrasim demo --model calcium-buffering --runs 2 --no-plot "),
    ("docs/index.md", "make demo ", "tetrasim demo --model calcium-buffering --runs 2 --no-plot "),
    ("docs/index.md", "make bench ", ": make bench "),
    ("docs/index.md", "make lint ", ": make lint "),  # its own CI step; the full tier runs it
    ("docs/user_guide.md", "tetrasim demo                     #",
     "tetrasim demo --model calcium-buffering --runs 2  #"),
    ("docs/examples/frap.md", "--solver ode ", "--solver ode --geometries d0 --t-end 0.05 --no-published "),
    ("docs/examples/frap.md", "--solver ssa --runs 3 ",
     "--solver ssa --runs 1 --conc 2e-7 --t-end 0.05 --geometries d0 --no-published "),
    ("docs/examples/frap.md", 'geometries=("d0", "d0/2", "d0/3"), runs=3',
     'geometries=("d0",), use_published=False, runs=1'),
    ("docs/rng.md", "count=10**7", "count=10**4"),
    ("docs/concepts/gpu.md", "python benchmarks/gpu.py --repeats 3",
     "python benchmarks/gpu.py --repeats 1 --smoke"),
    ("docs/rng.md", "count=10**6", "count=10**3"),
]
#: A small opsplit model for the "same script under python and mpiexec" commands.
PARALLEL_MODEL = """
import numpy as np
import tetrasim as ts

mesh = ts.shapes.box(1e-6, 1e-6, 2e-6, size=0.5e-6)
model = ts.Model()
model.species("A")
model.volume_system("v").diffusion("A", 1e-12)
geom = ts.MeshGeometry(mesh)
geom.compartment("c", systems=["v"])
sim = ts.Simulation(model, geom, solver="opsplit", seed=7, progress=False)
sim.set_count("c", "A", 1000)
sim.run(1e-3)
print("A =", sim.get_count("c", "A"))
"""

# Names the python blocks of a document use without defining them (they are defined in prose
# or in an earlier page); prepended to that document's script.
PRELUDE = {
    "docs/concepts/parallel.md": """
        import numpy as np
        import tetrasim as ts
        mesh = ts.shapes.box(1e-6, 1e-6, 2e-6, size=0.5e-6)
        model = ts.Model()
        model.species("A")
        model.volume_system("v").diffusion("A", 1e-12)
        geom = ts.MeshGeometry(mesh)
        geom.compartment("c", systems=["v"])
        my_ranks = np.zeros(mesh.n_tets, dtype=int)  # one process: every tet on rank 0
    """,
    "docs/concepts/gpu.md": """
        import os
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # no GPU in the tests: numba's CUDA simulator
        import tetrasim as ts
        mesh = ts.shapes.box(1e-6, 1e-6, 2e-6, size=0.5e-6)
        model = ts.Model()
        model.species("A")
        model.volume_system("v").diffusion("A", 1e-12)
        geom = ts.MeshGeometry(mesh)
        geom.compartment("c", systems=["v"])
    """,
    "docs/concepts/ode.md": """
        import tetrasim as ts
        model = ts.Model()
        model.species("A")
        volume_system = model.volume_system("v")
        volume_system.reaction("A ->", kf=1.0)
        volume_system.diffusion("A", 1e-12)
        geom = ts.WellMixed()
        geom.compartment("c", volume=1e-18, systems=["v"])
        mesh_geom = ts.MeshGeometry(ts.TetMesh.load("branch.msh", length_unit="um"))
        mesh_geom.compartment("c", systems=["v"])
    """,
}
# Reference data a document's python blocks load (linked into the scratch folder).
NEEDS_DATA = {"docs/mesh.md": ["meshes/astrocyte/5nodes_ratio1.inp"]}
TIMEOUT = 900


@dataclass
class Block:
    document: str  # relative to the repository
    line: int
    language: str
    text: str


def _blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```([^\n`]*)\n(.*?)^```", text, flags=re.S | re.M):
        found.append(Block(str(path.relative_to(REPO)), text[:match.start()].count("\n") + 1,
                           match.group(1).strip(), match.group(2)))
    return found


ALL_BLOCKS = [block for path in DOCS for block in _blocks(path)]


def _apply(block: Block, table) -> str:
    text = block.text
    for document, old, new, *_why in table:
        if document == block.document:
            text = text.replace(old, new)
    return text


def _units(tier: str) -> list[tuple[str, str, list[Block]]]:
    """(id, language, blocks): one python script per document, one bash script per block."""
    units = []
    for path in DOCS:
        document = str(path.relative_to(REPO))
        blocks = [b for b in ALL_BLOCKS if b.document == document]
        python = [b for b in blocks if b.language == "python"]
        if python:
            units.append((f"{document}:python", "python", python))
        units += [(f"{document}:{b.line}:bash", "bash", [b]) for b in blocks if b.language == "bash"]
    return units


def _shim(folder: Path, name: str, command: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\nexec {command} \"$@\"\n")
    path.chmod(0o755)


def _workspace(root: Path) -> dict:
    """A folder that looks like a checkout with its .venv; returns the environment to run in."""
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = sys.executable
    _shim(bin_dir, "python", python)
    _shim(bin_dir, "tetrasim", f"{python} -m tetrasim")
    _shim(bin_dir, "ruff", f"{python} -m ruff")
    for name in ("examples", "benchmarks", "scripts", "src", "tests", "pyproject.toml", "Makefile", "docs"):
        if (REPO / name).exists():
            (root / name).symlink_to(REPO / name)
    # the files the documented commands name
    import tetrasim as ts

    box = ts.shapes.box(2e-6, 2e-6, 4e-6, size=0.8e-6)
    mesh = ts.TetMesh(box.vertices, box.tets, groups={"cytosol": list(range(box.n_tets))})
    mesh.save(root / "branch.msh", length_unit="um")
    (root / "my_model.py").write_text("import sys\nprint('my_model ran with', sys.argv[1:])\n")
    (root / "model.py").write_text(PARALLEL_MODEL)  # docs/concepts/parallel.md: the same script, 1 or N ranks
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if mpiexec.exists():
        _shim(bin_dir, "mpiexec", str(mpiexec))
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return env


def _run_unit(tmp_path: Path, unit_id: str, language: str, blocks: list[Block], tier: str):
    document = blocks[0].document
    data_root = Path(os.environ.get("TETRASIM_DATA") or REPO.parent / "shared" / "data")
    for needed in NEEDS_DATA.get(document, []):
        if not (data_root / needed).exists():
            pytest.skip(f"{document} loads {needed} from the reference data, which is absent "
                        "(set TETRASIM_DATA)")
    env = _workspace(tmp_path)
    for needed in NEEDS_DATA.get(document, []):
        (tmp_path / Path(needed).name).symlink_to(data_root / needed)
    reduced = REDUCED if tier == "default" else []
    always = [entry for entry in ALWAYS if entry[:2] not in {entry[:2] for entry in reduced}]
    parts = []
    for block in blocks:
        text = _apply(block, reduced)
        text = _apply(Block(block.document, block.line, block.language, text), always)
        parts.append(text)
    if language == "python":
        script = textwrap.dedent(PRELUDE.get(document, "")) + "\n".join(parts)
        (tmp_path / "doc_blocks.py").write_text(script)
        command = [sys.executable, "doc_blocks.py"]
    else:
        (tmp_path / "doc_block.sh").write_text("set -euo pipefail\n" + parts[0])
        command = ["bash", "doc_block.sh"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    shown = script if language == "python" else parts[0]
    assert done.returncode == 0, (
        f"{unit_id} failed (exit {done.returncode}); the commands as run:\n{shown}"
        f"\n--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}")
    return done


def test_every_block_says_what_it_is():
    unlabelled = [f"{b.document}:{b.line}" for b in ALL_BLOCKS if b.language not in RUN | NOT_RUN]
    assert not unlabelled, f"fenced blocks without 'python', 'bash' or 'text': {unlabelled}"


def test_every_reduction_still_matches_the_docs():
    """A reduction whose text left the docs would silently stop reducing (or hide a new command)."""
    for table in (ALWAYS, REDUCED):
        for document, old, *_ in table:
            texts = [b.text for b in ALL_BLOCKS if b.document == document]
            assert any(old in text for text in texts), f"{document}: no block contains {old!r} any more"


def test_make_targets_run_what_the_docs_say():
    """``make demo``/``lint``/``test``/``bench`` exist and their recipes run the commands used above."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    expected = {"demo": "tetrasim demo", "lint": "ruff check src tests", "test": "-m pytest",
                "validate": "make_validation_report.py", "bench": "benchmarks/*.py"}
    for target, phrase in expected.items():
        done = subprocess.run(["make", "-n", "-C", str(REPO), target], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and phrase in done.stdout, f"make {target}: {done.stdout}{done.stderr}"


@pytest.mark.parametrize("unit", _units("default"), ids=lambda unit: unit[0])
def test_docs_commands_run(unit, tmp_path):
    _run_unit(tmp_path, *unit, tier="default")


@pytest.mark.slow
@pytest.mark.parametrize("unit", [u for u in _units("full") if any(
    b.document == d and old in b.text for b in u[2] for d, old, _ in REDUCED)], ids=lambda unit: unit[0])
def test_docs_commands_run_in_full(unit, tmp_path):
    """The blocks that the default suite runs reduced, as printed (``make validate``)."""
    _run_unit(tmp_path, *unit, tier="full")


def test_docs_are_self_contained():
    """No page cites a file outside the repository; every relative link points to a file that exists."""
    outside = re.compile(r"\b(DESIGN|VALIDATION)\.md\b|DESIGN §")
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            assert not outside.search(line), f"{path.relative_to(REPO)}:{number} cites a file outside: {line}"
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.relative_to(REPO)}: link to missing {target}"
