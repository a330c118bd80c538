#!/usr/bin/env bash
# Set up a development environment for tetrasim: .venv with the package installed editable
# (pip install -e '.[dev]') plus the system libraries gmsh's wheel needs.
#
# Idempotent and fast when already done: a stamp file in the venv records a hash of
# pyproject.toml and of this script; when it matches (and the venv imports tetrasim), nothing runs.
#
#   bash scripts/setup.sh            # set up (or do nothing when up to date)
#   bash scripts/setup.sh --force    # reinstall
#
# Environment: PYTHON (interpreter to build the venv with; default: the first python3.13,
# python3.12, python3.11 or python3 that is >= 3.11), VENV (default .venv), EXTRAS (default dev).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS:-dev}"
STAMP="$VENV/.tetrasim-setup-stamp"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

fingerprint() {
    { cat pyproject.toml scripts/setup.sh; echo "extras=$EXTRAS"; } | cksum | cut -d' ' -f1
}

if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ] \
        && "$VENV/bin/python" -c "import tetrasim" >/dev/null 2>&1; then
    exit 0  # up to date
fi

as_root() { [ "$(id -u)" = 0 ]; }
can_apt() { as_root && command -v apt-get >/dev/null 2>&1; }
APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------- Python >= 3.11
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
                && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}
PY="$(find_python)" || die "tetrasim needs Python >= 3.11; none found (set PYTHON=/path/to/python3.11)"

# ---------------------------------------------------------------- the virtual environment
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $PY ($("$PY" --version 2>&1))"
    if ! "$PY" -m venv "$VENV" 2>/tmp/tetrasim-venv-error.$$; then
        rm -rf "$VENV"
        if can_apt; then  # Debian/Ubuntu ship venv/ensurepip separately
            version="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            apt_install "python${version}-venv" || apt_install python3-venv
            "$PY" -m venv "$VENV"
        else
            cat /tmp/tetrasim-venv-error.$$ >&2
            rm -f /tmp/tetrasim-venv-error.$$
            die "'$PY -m venv' failed; on Debian/Ubuntu install python3-venv"
        fi
    fi
    rm -f /tmp/tetrasim-venv-error.$$
fi

say "upgrading pip"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
say "installing tetrasim: pip install -e '.[$EXTRAS]' (first time: a few minutes)"
"$VENV/bin/python" -m pip install --quiet --editable ".[$EXTRAS]"

# ---------------------------------------------------------------- system libraries for gmsh
# gmsh's wheel ships libgmsh.so linked against X11/OpenGL/fontconfig libraries that minimal
# images (Docker, CI) lack. Find the ones the loader cannot resolve and install their packages.
declare -A DEBIAN_PACKAGE=(
    [libGLU.so.1]=libglu1-mesa [libGL.so.1]=libgl1 [libOpenGL.so.0]=libopengl0 [libGLX.so.0]=libglx0
    [libGLdispatch.so.0]=libglvnd0 [libEGL.so.1]=libegl1
    [libX11.so.6]=libx11-6 [libXext.so.6]=libxext6 [libXrender.so.1]=libxrender1
    [libXcursor.so.1]=libxcursor1 [libXfixes.so.3]=libxfixes3 [libXft.so.2]=libxft2
    [libXinerama.so.1]=libxinerama1 [libXi.so.6]=libxi6 [libXrandr.so.2]=libxrandr2
    [libxcb.so.1]=libxcb1 [libXau.so.6]=libxau6 [libXdmcp.so.6]=libxdmcp6
    [libfontconfig.so.1]=libfontconfig1 [libfreetype.so.6]=libfreetype6 [libexpat.so.1]=libexpat1
    [libpng16.so.16]=libpng16-16 [libbrotlidec.so.1]=libbrotli1 [libbrotlicommon.so.1]=libbrotli1
    [libgomp.so.1]=libgomp1 [libz.so.1]=zlib1g [libbsd.so.0]=libbsd0 [libmd.so.0]=libmd0
    [libstdc++.so.6]=libstdc++6 [libgcc_s.so.1]=libgcc-s1
)

missing_gmsh_libraries() {
    local lib
    lib="$(find "$VENV" -name 'libgmsh.so*' -not -type l 2>/dev/null | head -n 1)"
    [ -n "$lib" ] || return 0
    command -v ldd >/dev/null 2>&1 || return 0
    ldd "$lib" 2>/dev/null | awk '/not found/ {print $1}' | sort -u
}

gmsh_imports() { "$VENV/bin/python" -c "import gmsh" >/dev/null 2>&1; }

missing="$(missing_gmsh_libraries)"
if [ -n "$missing" ]; then
    say "gmsh needs system libraries that are missing: $(echo $missing)"
    packages=()
    unknown=()
    for soname in $missing; do
        if [ -n "${DEBIAN_PACKAGE[$soname]:-}" ]; then packages+=("${DEBIAN_PACKAGE[$soname]}"); else unknown+=("$soname"); fi
    done
    if [ "${#unknown[@]}" -gt 0 ]; then  # not in the table: install the whole usual set
        packages+=(libglu1-mesa libgl1 libxrender1 libxcursor1 libxfixes3 libxext6 libxft2 libfontconfig1
                   libxinerama1 libx11-6 libgomp1)
    fi
    mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
    if can_apt; then
        if ! apt_install "${packages[@]}"; then  # a name this release lacks (e.g. t64 renames): one by one
            for package in "${packages[@]}"; do
                apt_install "$package" || say "warning: apt-get could not install $package"
            done
        fi
    elif command -v apt-get >/dev/null 2>&1; then
        say "warning: not root; install them with: sudo apt-get install -y ${packages[*]}"
    else
        say "warning: install the system packages that provide: $(echo $missing)"
    fi
fi
if ! gmsh_imports; then
    say "warning: 'import gmsh' fails in $VENV; meshing from shapes (ts.shapes) will not work:"
    "$VENV/bin/python" -c "import gmsh" 2>&1 | tail -n 2 | sed 's/^/setup:   /'
fi

fingerprint >"$STAMP"
say "done: $("$VENV/bin/python" -c 'import tetrasim; print("tetrasim", tetrasim.__version__)') in $VENV"
