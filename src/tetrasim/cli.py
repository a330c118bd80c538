"""The ``tetrasim`` command.

::

    tetrasim --version
    tetrasim demo [--model NAME] [--runs N] [--solver S[,S...]] [--out DIR] [--seed N] [--no-plot]
    tetrasim run SCRIPT.py [ARGS...]
    tetrasim mesh-info FILE --length-unit um

Errors tetrasim raises on purpose (:class:`tetrasim.errors.TetrasimError`) print as one line,
``tetrasim: error: ...``, and exit with status 2; ``--traceback`` shows the full traceback.
Runs longer than a few seconds show a progress bar on a terminal and one line per milestone
(``tetrasim: ...: 40% ...``) on stderr otherwise (see :mod:`tetrasim.progress`).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import traceback

from .errors import TetrasimError

__all__ = ["main", "build_parser"]

EXIT_ERROR = 2


class CommandError(TetrasimError):
    """A problem with the command line itself (missing file, missing optional part)."""


def _version() -> str:
    from ._version import __version__

    return __version__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


# ---------------------------------------------------------------------- commands
def _cmd_demo(args) -> int:
    from .demo import run_demo

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CommandError(f"--out {args.out!r} is a file; --out names the folder the results go to")
    output = run_demo(out_dir=args.out, runs=args.runs, solver=args.solver, plot=not args.no_plot,
                      model=args.model, seed=args.seed)
    if output.notes:
        print(f"done, with {len(output.notes)} note(s) above.")
    return 0


def _cmd_run(args) -> int:
    import runpy

    script = args.script
    if not os.path.isfile(script):
        what = "is a folder, not a script" if os.path.isdir(script) else "does not exist"
        raise CommandError(f"cannot run {script!r}: the file {what} (looked in {os.getcwd()})")
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [script, *args.script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT`: sibling modules import
    try:
        runpy.run_path(script, run_name="__main__")
    except TetrasimError as error:
        line = _line_in(error, script)
        # Model errors already start with "script.py:LINE:"; say where only once.
        site = f"{os.path.basename(script)}:{line}"
        if line is not None and not args.traceback and site not in str(error):
            error.args = (f"{error} [{script}, line {line}]",)
        raise
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def _line_in(error: BaseException, script: str) -> int | None:
    """The last line of ``script`` on the error's traceback (where the user's call was)."""
    target = os.path.abspath(script)
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == target:
            found = frame.lineno
    return found


def _cmd_mesh_info(args) -> int:
    try:
        from .geometry.mesh import mesh_info
    except ImportError as error:
        raise CommandError(f"mesh-info is not available in this installation of tetrasim ({error})") from None
    if not os.path.exists(args.file):
        raise CommandError(f"no mesh file at {args.file!r}")
    options = {} if args.format is None else {"format": args.format}
    print(mesh_info(args.file, args.length_unit, **options))
    return 0


# ---------------------------------------------------------------------- parser
def _demo_description(demos: dict, default: str) -> str:
    """``demo --help``: what each model is, on which geometry, with which solvers by default."""
    from .demo import demo_geometry_kind

    lines = ["Run a built-in demonstration model and write its results (HDF5, one file per solver) and a",
             "figure (PNG) into the current folder or --out.", "", "models:"]
    for demo in demos.values():
        kind = "well-mixed" if demo_geometry_kind(demo) == "well-mixed" else "tetrahedral meshes"
        runs = f", {demo.default_runs} runs" if demo.default_runs > 1 else ""
        head = f"  {demo.name}{' (the default)' if demo.name == default else ''}"
        lines.append(f"{head}: {kind}; solvers {', '.join(demo.solvers)}{runs}")
        indent = " " * 6
        lines += textwrap.wrap(demo.description, width=92, initial_indent=indent, subsequent_indent=indent)
    lines += ["", "examples:", f"  tetrasim demo                         # {default}",
              "  tetrasim demo --model calcium-buffering --runs 50 --solver wm-ssa",
              "  tetrasim demo --model astrocyte-calcium --solver ssa"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from .demo import DEFAULT_DEMO, DEMOS

    parser = argparse.ArgumentParser(
        prog="tetrasim",
        description="Stochastic reaction-diffusion on tetrahedral meshes of neurons and glia.",
        epilog="Run 'tetrasim COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"tetrasim {_version()}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full Python traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run a built-in demonstration model; write results (HDF5) and a figure (PNG)",
        description=_demo_description(DEMOS, DEFAULT_DEMO),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--model", choices=sorted(DEMOS), default=DEFAULT_DEMO,
                      help=f"which demonstration (default: {DEFAULT_DEMO}; see above)")
    demo.add_argument("--runs", type=_positive_int, default=None,
                      help="replicates of each stochastic solver (default: the model's own; "
                           "deterministic solvers run once)")
    demo.add_argument("--solver", default=None,
                      help="solver name, or several separated by commas (default: the model's own); "
                           "the mesh demo takes ssa, opsplit or ode, the well-mixed one wm-ssa or wm-ode")
    demo.add_argument("--out", default=".", metavar="DIR", help="output folder (default: the current folder)")
    demo.add_argument("--seed", type=_non_negative_int, default=2024, help="random seed (default: 2024)")
    demo.add_argument("--no-plot", action="store_true", help="skip the PNG figure")
    demo.set_defaults(handler=_cmd_demo)

    run = commands.add_parser("run", help="run a Python script that uses tetrasim",
                              description="Run a Python script as `python SCRIPT ARGS...` would, "
                                          "with tetrasim's error reporting.")
    run.add_argument("script", metavar="SCRIPT", help="path of the .py file")
    run.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="arguments passed to the script")
    run.set_defaults(handler=_cmd_run)

    info = commands.add_parser("mesh-info", help="summarise a mesh file (sizes, groups, quality)",
                               description="Load a mesh file and print its size, groups, surfaces and "
                                           "element-quality summary.")
    info.add_argument("file", metavar="FILE", help="mesh file (.msh, .inp, .vtk, ...)")
    info.add_argument("--length-unit", required=True, metavar="UNIT",
                      help="unit of the file's coordinates: m, mm, um, nm, or a factor to metres (e.g. 1e-9)")
    info.add_argument("--format", default=None,
                      help="file format when the extension does not tell (e.g. gmsh, abaqus, tetgen, vtk)")
    info.set_defaults(handler=_cmd_mesh_info)
    return parser


def _progress_lines_to_stderr():
    """Print the milestone lines of runs (logger ``tetrasim.progress``) on stderr; returns an undo.

    A simulation left at ``progress=None`` shows a bar on a terminal and otherwise logs one line
    per milestone, which a library keeps silent; the command is an application, so off a
    terminal (a batch job, ``| tee log``) it prints those lines instead of minutes of silence.
    """
    import logging

    from .progress import logger

    if sys.stderr.isatty() or logger.handlers:
        return lambda: None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tetrasim: %(message)s"))
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a script's own logging.basicConfig must not print each line twice

    def undo():
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved

    return undo


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tetrasim`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_ERROR
    undo_progress = _progress_lines_to_stderr()
    try:
        return int(args.handler(args) or 0)
    except TetrasimError as error:
        if args.traceback:
            traceback.print_exc()
        else:
            message = " ".join(str(error).split()) or type(error).__name__
            print(f"tetrasim: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tetrasim: interrupted", file=sys.stderr)
        return 130
    finally:
        undo_progress()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
