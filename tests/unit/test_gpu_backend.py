"""The GPU back end (``backend="gpu"``) in numba's CUDA simulator, and its errors without CUDA.

What is checked, and why (issue 12; docs/concepts/gpu.md):

* the kernels give the serial ``opsplit`` trajectory bit for bit: reactions (1st and 2nd order,
  reversible), volume and surface diffusion, surface reactions with volume reactants and products,
  a clamped pool, reaction extents, samples inside steps, runs that stop inside a step and
  continue, a rate, a diffusion coefficient and a count changed between runs, on a 3-tet and a
  50-tet mesh for three seeds each, with both launch schemes (many steps per launch, three
  launches per step). The simulator runs the kernels' Python sources on the host's floating
  point, so any difference is a difference of logic (keys, ownership, synchronisation), never
  of rounding;
* the diffusion table's point-source case, small: molecules released in one tet, the mean of the
  runs against the exact mean of the opsplit method from the independent mesh operator
  (``meshes.opsplit_mean``, as tests/validation/test_diffusion_table.py), with that file's
  two z-tests (per bin and pooled along the rate-error direction) sharing α = 1e-4. Power,
  checked by hand on the same runs: diffusion rates scaled by 1.1 or 0.9 put the worst statistic
  at 1.9–2.8 times its threshold, the correct rates at 0.45 (per bin) and 0.09 (pooled);
* without numba-cuda or a device, ``backend="gpu"`` raises a CapabilityError that names the
  extra to install and the simulator; importing tetrasim does not import numba.cuda.

The simulator needs ``NUMBA_ENABLE_CUDASIM=1`` before numba is imported, so the GPU runs happen in
a subprocess (tests/gpu/gpu_model.py); the serial runs and the checks happen here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import meshes
from stats import ALPHA, z_threshold
from tetrasim.errors import CapabilityError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
import gpu_model  # noqa: E402

SCRIPT = Path(gpu_model.__file__)
PER_RUN_BIN_MINIMUM = 10.0  # tets expecting fewer molecules per run are pooled into one bin


def _simulated(case: str, tmp_path) -> dict:
    """Run ``case`` of tests/gpu/gpu_model.py on the CUDA simulator; its arrays."""
    out = tmp_path / f"{case}.npz"
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(SCRIPT), case, str(out)], env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as data:
        return {key: data[key] for key in data.files}


def test_gpu_trajectory_is_the_serial_one_bit_for_bit(tmp_path):
    gpu = _simulated("identity", tmp_path)
    for mesh_name in gpu_model.MESHES:
        for seed in gpu_model.SEEDS:
            serial = gpu_model.run_identity(mesh_name, seed, "serial")
            events, jumps, steps = serial["stats"]
            assert events > 0 and jumps > 0 and steps > 0  # the case exercises both operators
            for key, value in serial.items():
                np.testing.assert_array_equal(gpu[f"{mesh_name}/{seed}/{key}"], value,
                                              err_msg=f"{mesh_name} mesh, seed {seed}: {key}")


def _bins(expected: np.ndarray) -> np.ndarray:
    """0/1 bins over tets: one per tet expecting >= PER_RUN_BIN_MINIMUM molecules per run, and one
    for the rest when together they expect that many (the z-tests' normal approximation holds)."""
    big = expected >= PER_RUN_BIN_MINIMUM
    bins = np.eye(len(expected))[big]
    if expected[~big].sum() >= PER_RUN_BIN_MINIMUM:
        bins = np.vstack([bins, (~big).astype(np.float64)])
    return bins


def test_point_source_matches_the_exact_opsplit_mean(tmp_path):
    gpu = _simulated("point_source", tmp_path)
    sim = gpu_model.point_source_sim("serial")  # the reference comes from the mesh, not the run
    counts0 = sim._template.astype(np.float64)
    total = counts0.sum()
    times = gpu["times"][1:]
    data = gpu["counts"][:, 1:, :].astype(np.float64)  # (runs, times, tets)
    runs = data.shape[0]
    assert runs == gpu_model.POINT_RUNS and np.all(data.sum(axis=2) == total)
    reference = meshes.opsplit_mean(sim, counts0, times)
    weights_all = meshes.mesh_mean(sim, counts0, times * 1.01) - meshes.mesh_mean(sim, counts0, times)
    bins_at = [_bins(row) for row in reference]
    z_bin = z_threshold(sum(len(bins) for bins in bins_at), ALPHA / 2)
    z_pooled = z_threshold(len(times), ALPHA / 2)
    for i, t in enumerate(times):
        bins = bins_at[i]
        expected, weights = bins @ reference[i], bins @ weights_all[i]
        mean = (data[:, i, :] @ bins.T).mean(axis=0)
        p = expected / total
        se = np.sqrt(total * p * (1 - p) / runs)
        worst = np.max(np.abs(mean - expected) / se)
        assert worst <= z_bin, f"t = {t:.3g} s: a bin is {worst:.2f} SE from the exact mean (z = {z_bin:.2f})"
        pooled_se = np.sqrt(total * (np.sum(weights**2 * p) - np.sum(weights * p) ** 2) / runs)
        pooled = abs(np.sum(weights * (mean - expected))) / pooled_se
        assert pooled <= z_pooled, f"t = {t:.3g} s: pooled deviation {pooled:.2f} SE (z = {z_pooled:.2f})"


def test_without_cuda_backend_gpu_says_what_to_install():
    script = (
        "import sys, tetrasim as ts\n"
        "assert 'numba.cuda' not in sys.modules\n"
        "from numba import cuda\n"
        "if cuda.is_available(): print('device'); raise SystemExit\n"
        "from tetrasim.backends.gpu import load_kernels\n"
        "try:\n"
        "    load_kernels()\n"
        "except ts.errors.CapabilityError as error:\n"
        "    print(error)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    environment["PYTHONWARNINGS"] = "ignore"
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    if result.stdout.strip() == "device":
        pytest.skip("this machine has a CUDA device")
    message = result.stdout
    assert "pip install 'tetrasim[gpu]'" in message and "NUMBA_ENABLE_CUDASIM=1" in message, message


def test_backend_gpu_runs_opsplit_only():
    import tetrasim as ts

    geom = ts.MeshGeometry(gpu_model.three_tet_mesh())
    geom.compartment("c", systems=["v"])
    # refused before CUDA is looked for: the same error with or without a device
    with pytest.raises(CapabilityError, match="runs the 'opsplit' solver"):
        ts.Simulation(ts.Model(), geom, solver="ssa", backend="gpu")
