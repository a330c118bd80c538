"""Back ends: where a solver's state lives and how its operators run (serial, MPI; GPU next).

The contract (:class:`tetrasim.backends.base.Backend`; docs/concepts/parallel.md):

* ``distribute`` / ``empty`` — where the state arrays live (serial: every element; MPI: the
  owned elements plus one ghost layer, with local ids; GPU: device arrays);
* ``launch(kernel, *args)`` — how the reaction and diffusion operators run on those arrays;
* ``exchange(counts)`` — after each diffusion step, molecules that moved into ghost pools go to
  their owners, applied synchronously;
* ``minimum`` / ``sum`` — reductions (the step τ; probes and getters), the same on every process;
* ``collective()`` — an error on any process is raised on every process.

Random numbers are keyed by global ids in the kernels, so a back end that passes the global
keys reproduces the serial trajectory bit for bit. Modules: :mod:`.base` (the contract),
:mod:`.serial`, :mod:`.mpi` and :mod:`.mpi_simulation` (imported only for ``backend="mpi"``:
importing tetrasim never initialises MPI), :mod:`.partition` (METIS), :mod:`.split_mesh` and
:mod:`.split_setup` (a pre-split Gmsh set: each rank reads its own file), :mod:`.registry`
(choosing a back end), :mod:`.launch` (finding ``mpiexec``).
"""
