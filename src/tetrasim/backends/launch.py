"""Find and run ``mpiexec``: the one the ``mpich`` wheel put next to this Python, else the one on PATH.

``pip install 'tetrasim[mpi]'`` installs MPICH's ``mpiexec`` in the environment's ``bin/``
folder, which is on PATH only while the environment is activated. ``python -m
tetrasim.backends.launch -n 4 model.py`` finds it either way and runs ``model.py`` with this
Python on 4 ranks (extra arguments go to ``mpiexec``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..errors import CapabilityError

__all__ = ["find_mpiexec", "mpiexec_command", "main"]


def find_mpiexec() -> str:
    """Path of ``mpiexec``: beside ``sys.executable`` first (the mpich wheel), then on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found:
        return found
    raise CapabilityError(
        "no mpiexec found beside this Python or on PATH; install it with: "
        "pip install 'tetrasim[mpi]' (the mpich wheel), or load your cluster's MPI module"
    )


def mpiexec_command(n_ranks: int, script, *arguments) -> list[str]:
    """The command line that runs ``script`` (with this Python) on ``n_ranks`` ranks."""
    return [find_mpiexec(), "-n", str(int(n_ranks)), sys.executable, str(script), *map(str, arguments)]


def main(argv=None) -> int:
    """``python -m tetrasim.backends.launch -n N script.py [args]``: exec mpiexec with this Python."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[0] not in ("-n", "-np"):
        print("usage: python -m tetrasim.backends.launch -n RANKS script.py [arguments]", file=sys.stderr)
        return 2
    command = mpiexec_command(int(argv[1]), argv[2], *argv[3:])
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
