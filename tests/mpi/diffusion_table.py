"""One case of the Diffusion validation table with ``opsplit`` on the MPI back end.

    mpiexec -n 2 python tests/mpi/diffusion_table.py OUT.npz CASE

Every rank runs the case (tests/validation/test_diffusion_table.py: ``simulate_case``) with
``backend="mpi"``; rank 0 writes the bin counts and the wall time to OUT.npz. The checks against
the independent reference run afterwards in one process (``test_diffusion_case_on_two_ranks``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_diffusion_table import simulate_case  # noqa: E402


def main() -> int:
    out, case_key = Path(sys.argv[1]), sys.argv[2]
    binned, wall = simulate_case(case_key, "opsplit", backend="mpi")
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        np.savez(out, binned=binned, wall=wall, ranks=comm.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
