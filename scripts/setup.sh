#!/usr/bin/env bash
# Set up everything the course needs, idempotently:
#   1. system libraries for Manim (cairo, pango), LaTeX for MathTex and Chromium for the browser test,
#      via apt when root on Debian/Ubuntu;
#   2. a virtual environment in .venv (override with VENV=path);
#   3. torch, pinned in requirements.txt, from the index TORCH_INDEX_URL names:
#        unset        PyTorch's CPU index (about 0.2 GB) without an NVIDIA GPU, PyPI (the CUDA build) with one;
#        "pypi" or "" pip's own index (PyPI: the CUDA build on Linux, several GB);
#        a URL        that index, e.g. https://download.pytorch.org/whl/cu130;
#      an index that does not answer within a few seconds is skipped for pip's own index;
#   4. the other pinned packages from requirements.txt, and this repository installed editable;
#   5. the browser-side packages pinned in package-lock.json (MathJax for the book, reveal.js for the slides,
#      configurable-http-proxy for JupyterHub) into node_modules/, with npm ci (nodejs and npm via apt if missing).
# A second run only checks: the pip steps are skipped while requirements.txt, pyproject.toml and the torch
# index asked for are unchanged, and npm ci while package-lock.json is. Sourcing this file (tests do) defines
# the functions without running them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
CPU_TORCH_INDEX=https://download.pytorch.org/whl/cpu
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
    command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
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
    "$PYTHON" - <<'PY' || { say "Python 3.11 or newer is needed, found $("$PYTHON" --version 2>&1) ; point PYTHON at one, e.g. PYTHON=python3.12 ./course setup"; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
}

create_venv() {
    [ -x "$VENV/bin/python" ] && return 0
    say "Creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
}

has_nvidia_gpu() {
    command -v nvidia-smi >/dev/null 2>&1 || [ -e /proc/driver/nvidia/version ]
}

torch_requirement() {
    # The torch line of requirements.txt, e.g. "torch==2.13.0" (the one place the version is written).
    sed -n 's/[[:space:]]*#.*//; s/[[:space:]]//g; /^torch==/p' requirements.txt
}

requested_torch_index() {
    # The index asked for, before any probe: a URL, or "pypi" for pip's own index.
    if [ "${TORCH_INDEX_URL+set}" = set ]; then
        echo "${TORCH_INDEX_URL:-pypi}"
    elif has_nvidia_gpu; then
        echo pypi
    else
        echo "$CPU_TORCH_INDEX"
    fi
}

index_answers() {
    # Whether $1/torch/ answers within 5 s. A daemon thread bounds the DNS lookup too, which urlopen's
    # timeout does not; pip itself would retry an unreachable index for minutes.
    "$PYTHON" - "$1" <<'PY'
import sys, threading, urllib.request

url = sys.argv[1].rstrip("/") + "/torch/"
answered = []

def probe():
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            answered.append(response.status < 400)
    except Exception:
        pass

thread = threading.Thread(target=probe, daemon=True)
thread.start()
thread.join(6)
sys.exit(0 if answered == [True] else 1)
PY
}

torch_index() {
    # The index torch is installed from: the requested one if it answers, else "pypi".
    local index
    index=$(requested_torch_index)
    if [ "$index" != pypi ] && ! index_answers "$index"; then
        say "$index does not answer: installing torch from pip's own index instead" >&2
        index=pypi
    fi
    echo "$index"
}

install_torch() {
    # Install torch from index $1 ("pypi" or a URL); replace it if it came from another index before.
    local index=$1 requirement record="$VENV/.torch-index"
    requirement=$(torch_requirement)
    [ -n "$requirement" ] || { say "requirements.txt pins no torch==<version>"; exit 1; }
    if [ -f "$record" ] && [ "$(cat "$record")" != "$index" ]; then
        say "torch came from $(cat "$record"); reinstalling it from $index"
        "$VENV/bin/python" -m pip uninstall --quiet --yes torch
    fi
    local from=()
    [ "$index" = pypi ] || from=(--index-url "$index")
    say "Installing $requirement from $([ "$index" = pypi ] && echo "pip's own index" || echo "$index") (minutes, once)"
    "$VENV/bin/python" -m pip install --quiet ${from[@]+"${from[@]}"} "$requirement"  # bash 3.2 (macOS): no empty "${a[@]}"
    echo "$index" > "$record"
}

install_pip_packages() {
    local stamp
    stamp="$VENV/.installed-$( (cat requirements.txt pyproject.toml; requested_torch_index) | cksum | tr ' ' -)"
    [ -f "$stamp" ] && return 0
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    install_torch "$(torch_index)"
    say "Installing the other pinned packages from requirements.txt"
    "$VENV/bin/python" -m pip install --quiet -r requirements.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    rm -f "$VENV"/.installed-*
    touch "$stamp"
}

install_node_packages() {
    if ! command -v npm >/dev/null 2>&1; then
        say "npm not found: the book, the slides and the hub need Node.js 18 or newer (https://nodejs.org)"
        return 0
    fi
    local stamp
    stamp="node_modules/.installed-$(cksum < package-lock.json | tr ' ' -)"
    [ -f "$stamp" ] && return 0
    say "Installing MathJax, reveal.js and configurable-http-proxy from the npm registry into node_modules/"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
}

repair_font_cache() {
    # Another matplotlib (a distribution's) can leave a font list without matplotlib's own fonts: every plot then
    # warns. A second's check; rebuilds the list only when it lacks them.
    "$VENV/bin/python" scripts/font_cache.py
}

main() {
    install_system_packages
    check_python
    create_venv
    install_pip_packages
    install_node_packages
    repair_font_cache
    say "Ready: $VENV (torch from $(cat "$VENV/.torch-index" 2>/dev/null || echo 'an earlier setup'))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main
fi
