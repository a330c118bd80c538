"""Discretization of a MeshGeometry: every tet is a volume element, patch triangles are surface elements."""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError
from .discretization import Discretization

__all__ = ["discretize_mesh"]


def discretize_mesh(geometry) -> Discretization:
    mesh = geometry.mesh
    comps = geometry.compartments
    patches = geometry.patches
    if not comps:
        raise GeometryError(
            "the mesh geometry has no compartment; add one with geom.compartment(name, tets=...)"
        )
    n_volume = mesh.n_tets
    # Surface elements: the triangles of each patch, patch after patch.
    patch_elements, tri_ids, inner, outer = {}, [], [], []
    offset = n_volume
    for name, patch in patches.items():
        tris = np.asarray(patch.tris, dtype=np.int64)
        patch_elements[name] = offset + np.arange(len(tris), dtype=np.int64)
        offset += len(tris)
        tri_ids.append(tris)
        inner.append(np.asarray(patch.tri_inner_tet, dtype=np.int64))
        outer.append(np.asarray(patch.tri_outer_tet, dtype=np.int64))
    surface_tris = np.concatenate(tri_ids) if tri_ids else np.zeros(0, np.int64)
    n_surface = len(surface_tris)
    measure = np.concatenate([mesh.tet_volumes, mesh.tri_areas[surface_tris]]).astype(np.float64)

    surface_neighbors = np.full((n_surface, 3), -1, dtype=np.int64)
    surface_couplings = np.zeros((n_surface, 3), dtype=np.float64)
    start = 0
    for name, tris in zip(patches, tri_ids, strict=True):
        if len(tris):
            couplings, neighbors = mesh.tri_diffusion_couplings(tris)
            rows = slice(start, start + len(tris))
            surface_couplings[rows] = couplings
            surface_neighbors[rows] = np.where(neighbors >= 0, patch_elements[name][0] + neighbors, -1)
        start += len(tris)

    boundaries = {name: (tuple(b.between), b.species) for name, b in geometry.diffusion_boundaries.items()}
    surface_boundaries = {name: (tuple(b.between), b.species)
                          for name, b in geometry.surface_diffusion_boundaries.items()}
    _link_patches(mesh, surface_boundaries, patch_elements, tri_ids, list(patches), n_volume,
                  surface_neighbors, surface_couplings)

    return Discretization(
        n_volume=n_volume,
        n_surface=n_surface,
        measure=measure,
        compartment_elements={name: np.asarray(c.tets, dtype=np.int64) for name, c in comps.items()},
        compartment_systems={name: list(c.systems) for name, c in comps.items()},
        patch_elements=patch_elements,
        patch_systems={name: list(p.systems) for name, p in patches.items()},
        patch_inner={name: p.inner for name, p in patches.items()},
        patch_outer={name: p.outer for name, p in patches.items()},
        surface_inner=np.concatenate(inner) if inner else np.zeros(0, np.int64),
        surface_outer=np.concatenate(outer) if outer else np.zeros(0, np.int64),
        volume_neighbors=np.ascontiguousarray(mesh.tet_neighbors, dtype=np.int64),
        volume_couplings=np.ascontiguousarray(mesh.diffusion_couplings(), dtype=np.float64),
        surface_neighbors=surface_neighbors,
        surface_couplings=surface_couplings,
        boundaries=boundaries,
        surface_boundaries=surface_boundaries,
        element_kind="tet",
        surface_mesh_tris=surface_tris,
    )


def _link_patches(mesh, surface_boundaries, patch_elements, tri_ids, patch_names, n_volume, neighbors,
                  couplings):
    """Fill the edge slots between the two patches of each surface diffusion boundary.

    Couplings inside a patch are computed patch by patch, so an edge shared with another patch
    has no neighbour (-1); for the two patches of a surface diffusion boundary, those edges get
    the triangle across them (whether molecules cross is decided at run time).
    """
    for (a, b), _species in surface_boundaries.values():
        ia, ib = patch_names.index(a), patch_names.index(b)
        union = np.concatenate([tri_ids[ia], tri_ids[ib]])
        union_elements = np.concatenate([patch_elements[a], patch_elements[b]])
        pair_couplings, pair_neighbors = mesh.tri_diffusion_couplings(union)
        in_a = np.arange(len(union)) < len(tri_ids[ia])
        has = pair_neighbors >= 0
        across = has & (in_a[:, None] != in_a[np.where(has, pair_neighbors, 0)])
        rows, slots = np.nonzero(across)
        local = union_elements[rows] - n_volume
        neighbors[local, slots] = union_elements[pair_neighbors[rows, slots]]
        couplings[local, slots] = pair_couplings[rows, slots]
