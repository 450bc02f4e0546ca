#!/usr/bin/env bash
# Set up everything the course needs, idempotently:
#   1. system libraries for Manim (cairo, pango), LaTeX for MathTex and Chromium for the browser test,
#      via apt when root on Debian/Ubuntu;
#   2. a virtual environment in .venv (override with VENV=path);
#   3. the pinned pip packages from requirements.txt, and this repository installed editable.
# A second run only checks: the pip step is skipped while requirements.txt and pyproject.toml are unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
SYSTEM_PACKAGES=(libcairo2-dev libpango1.0-dev pkg-config ffmpeg
                 texlive-latex-base texlive-latex-extra dvisvgm chromium)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

missing_system_packages() {
    local pkg
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

install_system_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "Not Debian/Ubuntu: install cairo, pango, pkg-config, ffmpeg and a LaTeX with dvisvgm yourself"
        say "(macOS: brew install cairo pango pkg-config ffmpeg; brew install --cask mactex-no-gui)."
        return 0
    fi
    local missing
    missing=$(missing_system_packages | tr '\n' ' ')
    [ -z "${missing// }" ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "Installing system packages: $missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
        say "Missing system packages: $missing"
        say "Install them with:  sudo apt-get install -y $missing"
        say "Continuing; Manim (pycairo) will fail to build without libcairo2-dev and libpango1.0-dev."
    fi
}

check_python() {
    "$PYTHON" - <<'PY' || { say "Python 3.10 or newer is needed (found $("$PYTHON" --version 2>&1))."; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY
}

create_venv() {
    [ -x "$VENV/bin/python" ] && return 0
    say "Creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
}

install_pip_packages() {
    local stamp="$VENV/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    say "Installing pip packages (torch is pinned to the CPU build; this takes a few minutes once)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r requirements.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    rm -f "$VENV"/.installed-*
    touch "$stamp"
}

install_system_packages
check_python
create_venv
install_pip_packages
say "Ready: $VENV"
