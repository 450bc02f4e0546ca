"""Bring the benchmark's real peers to a GPU machine that has no network, and build mamba_ssm's CUDA scan there.

mamba_ssm publishes no wheel for every torch/CUDA stack, and its full build takes long. The benchmark needs only
its selective scan in the Mamba-layer configuration, so:

    python -m kernels.peers download peers/          # on a machine with PyPI: mamba_ssm's sdist, accelerated-scan
    python -m kernels.peers build peers/ /tmp/peers  # on the GPU machine: compile, unpack; prints PYTHONPATH

`build` compiles mamba_ssm's `csrc/selective_scan` with torch's cpp_extension for the GPU it finds (sm_90 on an
H100/H200), restricted to float32 weights, float32 and bfloat16 inputs, and the branch a Mamba layer takes
(B and C varying in time, z present, softplus, L a multiple of the chunk): every other switch is compiled out
and refused at run time with a clear message. Its Python package is unpacked without its `__init__` (which
imports every model), so `mamba_ssm.ops.selective_scan_interface.selective_scan_fn` imports on its own.
accelerated-scan's pure-Python wheel is unpacked next to it (its `warp` module compiles CUDA at import).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

MAMBA = ("mamba_ssm", "2.3.2.post1")
ACCELERATED_SCAN = ("accelerated-scan", "0.3.1")
SIMPLE_INDEX = "https://pypi.org/simple/{name}/"

# Only the Mamba-layer branch: every BOOL_SWITCH takes its true side, and refuses the other at run time.
RESTRICTED_SWITCH = r"""#pragma once
#include <stdexcept>
#define BOOL_SWITCH(COND, CONST_NAME, ...)                                                        \
    [&] {                                                                                         \
        if (!(COND)) { throw std::runtime_error("this restricted build of mamba_ssm's selective " \
                                                "scan needs " #COND); }                           \
        constexpr bool CONST_NAME = true;                                                         \
        return __VA_ARGS__();                                                                     \
    }()
"""
SOURCES = ("selective_scan.cpp", "selective_scan_fwd_fp32.cu", "selective_scan_fwd_bf16.cu",
           "selective_scan_bwd_fp32_real.cu", "selective_scan_bwd_bf16_real.cu")
NVCC_FLAGS = ["-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
              "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "--threads", "4"]


def sdist_url(name: str, release: str) -> str:
    """The URL of a release's source distribution, from PyPI's JSON simple index."""
    request = urllib.request.Request(SIMPLE_INDEX.format(name=name),
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    wanted = f"{name.replace('-', '_')}-{release}.tar.gz"
    for entry in files:
        if entry["filename"] == wanted:
            return entry["url"]
    raise SystemExit(f"{wanted} is not on PyPI.")


def download(folder: Path) -> None:
    """mamba_ssm's sdist and accelerated-scan's wheel into `folder` (run where PyPI is reachable)."""
    folder.mkdir(parents=True, exist_ok=True)
    name, release = MAMBA
    target = folder / f"{name}-{release}.tar.gz"
    if not target.exists():
        urllib.request.urlretrieve(sdist_url(name, release), target)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "-d", str(folder), "==".join(ACCELERATED_SCAN)], check=True)
    print("\n".join(str(path) for path in sorted(folder.iterdir())))


def restrict_dispatch(source: str) -> str:
    """selective_scan.cpp dispatching only float32 weights and float32/bfloat16 inputs."""
    source = source.replace("    if (ITYPE == at::ScalarType::Half) {                                            \\\n"
                            "        using input_t = at::Half;                                                   \\\n"
                            "        __VA_ARGS__();                                                              \\\n"
                            "    } else if (ITYPE == at::ScalarType::BFloat16) {",
                            "    if (ITYPE == at::ScalarType::BFloat16) {")
    complex_branch = ("    } else if (WTYPE == at::ScalarType::ComplexFloat) {                              \\\n"
                      "        using weight_t = c10::complex<float>;                                        \\\n"
                      "        __VA_ARGS__();                                                               \\\n")
    source = source.replace(complex_branch, "")
    if "using input_t = at::Half;" in source or "using weight_t = c10::complex<float>;" in source:
        raise SystemExit("mamba_ssm's selective_scan.cpp has changed: update kernels/peers.py's restriction.")
    return source


def unpack_mamba(sdist: Path, target: Path) -> Path:
    """Unpack the CUDA sources (restricted) into target/csrc and the Python package into target/site."""
    with tarfile.open(sdist) as archive:
        archive.extractall(target / "sdist", filter="data")
    root = next((target / "sdist").iterdir())
    csrc = target / "csrc"
    shutil.copytree(root / "csrc" / "selective_scan", csrc, dirs_exist_ok=True)
    (csrc / "static_switch.h").write_text(RESTRICTED_SWITCH)
    cpp = csrc / "selective_scan.cpp"
    cpp.write_text(restrict_dispatch(cpp.read_text()))
    package = target / "site" / "mamba_ssm"
    for part in ("ops", "utils"):
        shutil.copytree(root / "mamba_ssm" / part, package / part, dirs_exist_ok=True)
    (package / "__init__.py").write_text('"""mamba_ssm\'s ops and utils alone (kernels.peers)."""\n')
    return csrc


def build(folder: Path, target: Path) -> None:
    """Compile the restricted mamba_ssm selective scan for this GPU; unpack accelerated-scan; print PYTHONPATH."""
    import torch                                  # here, not at the top: `download` runs where torch may be absent
    from torch.utils.cpp_extension import load

    if not torch.cuda.is_available():
        raise SystemExit("build needs a CUDA GPU (it compiles for the one it finds).")
    major, minor = torch.cuda.get_device_capability()
    csrc = unpack_mamba(folder / "{}-{}.tar.gz".format(*MAMBA), target)
    site = target / "site"
    with zipfile.ZipFile(next(folder.glob("accelerated_scan-*.whl"))) as wheel:
        wheel.extractall(site)
    build_dir = target / "build"
    build_dir.mkdir(parents=True, exist_ok=True)
    gencode = f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}"
    load(name="selective_scan_cuda", sources=[str(csrc / name) for name in SOURCES], build_directory=str(build_dir),
         extra_cflags=["-O3", "-std=c++17"], extra_cuda_cflags=[*NVCC_FLAGS, gencode],
         extra_include_paths=[str(csrc)], verbose=False)
    print(f"export PYTHONPATH={build_dir}:{site}${{PYTHONPATH:+:$PYTHONPATH}}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("download", help="fetch the peers from PyPI").add_argument("folder", type=Path)
    builder = commands.add_parser("build", help="compile and unpack the peers on the GPU machine")
    builder.add_argument("folder", type=Path)
    builder.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "download":
        download(args.folder)
    else:
        build(args.folder, args.target)


if __name__ == "__main__":
    main()
