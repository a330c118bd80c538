"""How well a mesh carries diffusion: element quality, the opsplit step, and the effective D.

The spatial solvers move a molecule from tet ``i`` through face ``k`` at rate ``D * g[i, k]``
(:meth:`TetMesh.diffusion_couplings`, the barycentre formula ``A / (V * delta)``). On a mesh
whose neighbouring barycentres are not joined normal to their shared face, this operator
diffuses at an effective coefficient that differs from D by a few per cent. This module
measures it without sampling:

* :func:`diffusion_eigenvalues` -- the slowest decay rates of the mesh's diffusion operator
  (D = 1), exactly (sparse symmetric eigenproblem, no random walk);
* :func:`effective_diffusion_ratio` -- ``D_eff / D``, the slowest mesh rate over the same rate
  of the continuum shape (an analytic Neumann eigenvalue), i.e. the coefficient with which the
  slowest concentration profile relaxes, as a fit of the long-time mean-squared displacement
  along the shape would see it;
* :func:`quality_report` -- volumes, dihedral angles, and the opsplit diffusion step relative to
  the one the median tet would allow (the step is ``1 / (D * max_i sum_k g[i, k])``, so one
  sliver shortens it for the whole mesh).
"""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError

__all__ = [
    "dihedral_angles",
    "quality_report",
    "diffusion_eigenvalues",
    "effective_diffusion_ratio",
    "exact_slowest_rate",
]

#: First zero of the derivative of the Bessel function J1 (slowest transverse mode of a disc).
BESSEL_J1_PRIME_ZERO = 1.8411837813406593
#: First positive zero of the derivative of the spherical Bessel function j1 (slowest sphere mode).
SPHERICAL_J1_PRIME_ZERO = 2.0815759778181
#: Edges (pairs of local vertices) of a tet and, for each, the two other vertices.
_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
_OTHERS = np.array([[2, 3], [1, 3], [1, 2], [0, 3], [0, 2], [0, 1]])


def _face_area_vectors(mesh) -> np.ndarray:
    """(m, 4, 3) outward area vectors of the face opposite each local vertex (positive tets)."""
    p = mesh.vertices[mesh.tets]
    out = np.empty_like(np.repeat(p[:, :1], 4, axis=1))
    for k in range(4):
        a, b, c = (j for j in range(4) if j != k)
        normal = np.cross(p[:, b] - p[:, a], p[:, c] - p[:, a]) / 2
        # orient away from the opposite vertex
        sign = np.sign(np.einsum("ij,ij->i", normal, p[:, a] - p[:, k]))
        out[:, k] = normal * sign[:, None]
    return out


def dihedral_angles(mesh) -> np.ndarray:
    """Interior dihedral angles (degrees), shape (m, 6), at edges (0,1), (0,2), (0,3), (1,2), (1,3), (2,3).

    The angle at an edge is 180 degrees minus the angle between the outward normals of the
    two faces that meet there (the faces opposite the tet's other two vertices). A regular
    tet has 70.5 degrees everywhere; slivers have angles near 0 and 180.
    """
    normals = _face_area_vectors(mesh)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    first, second = normals[:, _OTHERS[:, 0]], normals[:, _OTHERS[:, 1]]
    cosine = np.clip(np.einsum("ijk,ijk->ij", first, second), -1.0, 1.0)
    return 180.0 - np.degrees(np.arccos(cosine))


def quality_report(mesh) -> dict:
    """Element statistics that matter for diffusion.

    Returns
    -------
    dict
        ``n_tets``; ``volume_min``, ``volume_median`` (m^3); ``dihedral_min``, ``dihedral_max``
        (degrees); ``quality_min`` (6*sqrt(2)*V/l_rms^3, 1 = regular); ``step_ratio``: the opsplit
        diffusion step over the step the median tet alone would allow (``median / max`` of the
        per-tet leaving rate sum_k g[i, k]; 1 is ideal, a sliver makes it small).
    """
    from .quality import tet_quality

    volumes = mesh.tet_volumes
    angles = dihedral_angles(mesh)
    leave = mesh.diffusion_couplings().sum(axis=1)
    return {
        "n_tets": mesh.n_tets,
        "volume_min": float(volumes.min()),
        "volume_median": float(np.median(volumes)),
        "dihedral_min": float(angles.min()),
        "dihedral_max": float(angles.max()),
        "quality_min": float(tet_quality(mesh).min()),
        "step_ratio": float(np.median(leave) / leave.max()),
    }


def diffusion_eigenvalues(mesh, count: int = 4) -> np.ndarray:
    """The ``count`` slowest decay rates (1/m^2, for D = 1) of the mesh's diffusion operator.

    With ``c`` the concentrations, the solvers' mean dynamics is ``V dc/dt = -D K c`` with the
    symmetric ``K_ij = -V_i g_ij`` (off-diagonal) and zero row sums (detailed balance makes
    ``V_i g_ij = V_j g_ji``). The rates solve ``K c = lambda V c``; the first is 0 (uniform
    concentration) on a connected mesh. Solved by shift-invert Lanczos (scipy ``eigsh``).
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    count = int(count)
    if count < 2 or count >= mesh.n_tets - 1:
        raise GeometryError(f"count must be between 2 and {mesh.n_tets - 2}, got {count}")
    g = mesh.diffusion_couplings()
    neighbors = mesh.tet_neighbors
    volumes = mesh.tet_volumes
    rows = np.repeat(np.arange(mesh.n_tets), 4)
    cols = neighbors.ravel()
    weights = (volumes[:, None] * g).ravel()
    keep = cols >= 0
    coupling = sp.csr_matrix((weights[keep], (rows[keep], cols[keep])), shape=(mesh.n_tets,) * 2)
    stiffness = sp.diags(np.asarray(coupling.sum(axis=1)).ravel()) - coupling
    # a small negative shift keeps the factorised matrix non-singular and finds the slowest rates
    shift = -1e-3 * float(np.median(g[g > 0]))
    values = eigsh(
        stiffness.tocsc(), k=count, M=sp.diags(volumes).tocsc(), sigma=shift, which="LM",
        return_eigenvectors=False,
    )
    return np.sort(values)


def exact_slowest_rate(shape: str, **size) -> tuple[float, int]:
    """Slowest nonzero Neumann decay rate (1/m^2, D = 1) of a shape, and how many modes share it.

    Parameters
    ----------
    shape : {"box", "cylinder", "sphere"}
        ``box``: ``lengths=(lx, ly, lz)``; ``cylinder``: ``radius``, ``length``; ``sphere``: ``radius``.

    Notes
    -----
    Box: ``(pi / L_max)^2``, one mode per side of the longest length. Cylinder: the smaller of
    the axial ``(pi / L)^2`` and the transverse ``(j'_11 / R)^2`` (two modes). Sphere:
    ``(a'_11 / R)^2`` with ``a'_11 = 2.0816`` the first zero of ``j1'`` (three modes).
    """
    if shape == "box":
        lengths = sorted(size["lengths"], reverse=True)
        return (np.pi / lengths[0]) ** 2, sum(np.isclose(length, lengths[0]) for length in lengths)
    if shape == "cylinder":
        axial = (np.pi / size["length"]) ** 2
        transverse = (BESSEL_J1_PRIME_ZERO / size["radius"]) ** 2
        return (axial, 1) if axial < transverse else (transverse, 2)
    if shape == "sphere":
        return (SPHERICAL_J1_PRIME_ZERO / size["radius"]) ** 2, 3
    raise GeometryError(f"no exact rate for shape {shape!r}; use 'box', 'cylinder' or 'sphere'")


def effective_diffusion_ratio(mesh, exact_rate: float, modes: int = 1) -> float:
    """``D_eff / D``: the mean of the ``modes`` slowest nonzero mesh rates over ``exact_rate``.

    ``exact_rate`` comes from :func:`exact_slowest_rate` (or any independent reference for the
    same shape); ``modes`` averages a degenerate group (a sphere's three), so that the mesh's
    splitting of it does not matter.
    """
    values = diffusion_eigenvalues(mesh, count=modes + 1)
    return float(values[1 : modes + 1].mean() / exact_rate)
