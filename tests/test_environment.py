"""The install routes and the task runner.

The requirement files resolve on PyPI alone, the conda and pip routes agree, the README states the pins, setup
picks torch's index as documented, and `./course` and its render command explain themselves.
"""
import functools
import json
import os
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from animations import render as render_command

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT_FILES = sorted(ROOT.glob("requirements*.txt"))  # the course's, and any the book, hub or grading add
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def requirements_in(path: Path) -> list[Requirement]:
    """The requirements a pip requirements file lists itself (comments, blank lines and -r/-c options left out)."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def pinned_version(name: str) -> str:
    """The exact version requirements.txt pins `name` to, e.g. '2.13.0' for torch."""
    (requirement,) = [r for r in requirements_in(ROOT / "requirements.txt") if canonicalize_name(r.name) == name]
    (specifier,) = requirement.specifier
    assert specifier.operator == "==" and "*" not in specifier.version, f"requirements.txt: pin {name} exactly"
    return specifier.version


def course_pin(name: str) -> str | None:
    """pinned_version(name) where requirements.txt installs `name` on this platform, else None (its marker)."""
    (requirement,) = [r for r in requirements_in(ROOT / "requirements.txt") if canonicalize_name(r.name) == name]
    return pinned_version(name) if requirement.marker is None or requirement.marker.evaluate() else None


def split_pin(item: str) -> tuple[str, str]:
    """'numpy==2.4.*', 'numpy=2.4.*', 'pytorch=2.13.*=cpu*' or 'triton==3.7.1; ...' -> (PyPI name, version)."""
    name, *rest = item.split("#")[0].split(";")[0].replace("==", "=").split("=")
    name = canonicalize_name(name.strip())
    return CONDA_NAMES.get(name, name), rest[0].strip() if rest else ""


def conda_requirements() -> dict[str, str]:
    """{PyPI name: version} from environment.yml, its conda and pip sections together."""
    entries = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    items = [item for entry in entries for item in (entry["pip"] if isinstance(entry, dict) else [entry])]
    return dict(split_pin(item) for item in items)


def test_conda_and_pip_routes_agree():
    pip = {canonicalize_name(r.name): str(r.specifier).lstrip("=") for r in requirements_in(ROOT / "requirements.txt")}
    conda = conda_requirements()
    missing = sorted(set(pip) - set(conda))
    assert not missing, f"environment.yml lacks {missing}"
    for name, version in pip.items():
        assert conda[name] and version.startswith(conda[name].rstrip(".*")), \
            f"{name}: requirements.txt pins {version}, environment.yml {conda[name] or 'nothing'}"


def test_binder_builds_the_conda_route():
    # With a binder/ folder, Binder reads only the files in it: environment.yml there must be the root one.
    assert (ROOT / "binder" / "environment.yml").resolve() == (ROOT / "environment.yml").resolve()


def test_readme_states_the_pinned_torch_and_triton():
    readme = (ROOT / "README.md").read_text()
    for name in ("torch", "triton"):
        version = pinned_version(name)
        assert f"{name}=={version}" in readme, f"README.md does not state {name}=={version} (requirements.txt)"


def resolve_on_pypi_alone(requirements: Path, report: Path) -> subprocess.CompletedProcess:
    """pip's dry-run resolution of a requirements file against PyPI, with no pip configuration and no local wheels."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no configuration file at all: no find-links, extra indexes or constraints
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--index-url", "https://pypi.org/simple", "--report", str(report),
               "-r", str(requirements)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.network
@pytest.mark.parametrize("requirements", REQUIREMENT_FILES, ids=lambda path: path.name)
def test_requirements_resolve_on_pypi_alone_with_the_course_torch_and_triton(requirements, tmp_path):
    report = tmp_path / "report.json"
    done = resolve_on_pypi_alone(requirements, report)
    assert done.returncode == 0, \
        f"{requirements.name} does not resolve on PyPI alone (offline? -m 'not network'):\n{done.stderr[-3000:]}"
    installs = json.loads(report.read_text())["install"]
    resolved = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}
    for name in ("torch", "triton"):
        assert resolved.get(name) == course_pin(name), \
            f"{requirements.name} resolves {name} {resolved.get(name)}; requirements.txt pins {course_pin(name)}"


def setup_function_output(call: str, **env: str) -> subprocess.CompletedProcess:
    """Source scripts/setup.sh (which then defines its functions without running them) and run `call`."""
    environment = {key: value for key, value in os.environ.items() if key != "TORCH_INDEX_URL"} | env
    return subprocess.run(["bash", "-c", f"source scripts/setup.sh && {call}"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_setup_reads_the_torch_pin_from_requirements_txt():
    assert setup_function_output("torch_requirement").stdout.strip() == f"torch=={course_pin('torch')}"


@pytest.mark.parametrize("choice", ["", "pypi"])
def test_setup_takes_torch_from_pypi_when_asked(choice):
    assert setup_function_output("torch_index", TORCH_INDEX_URL=choice).stdout.strip() == "pypi"


def test_setup_defaults_to_the_cpu_index_without_an_nvidia_gpu_and_to_pypi_with_one(tmp_path):
    has_gpu = Path("/proc/driver/nvidia/version").exists() or setup_function_output("has_nvidia_gpu").returncode == 0
    default = setup_function_output("requested_torch_index").stdout.strip()
    assert default == ("pypi" if has_gpu else CPU_TORCH_INDEX)
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    with_gpu = setup_function_output("requested_torch_index", PATH=f"{tmp_path}:{os.environ['PATH']}")
    assert with_gpu.stdout.strip() == "pypi"


def test_setup_falls_back_to_pypi_quickly_when_the_index_does_not_answer():
    started = time.monotonic()
    done = setup_function_output("torch_index", TORCH_INDEX_URL="http://127.0.0.1:9/simple")  # port 9: discard
    assert done.stdout.strip() == "pypi" and time.monotonic() - started < 15
    assert "http://127.0.0.1:9/simple does not answer" in done.stderr


def test_setup_uses_an_index_that_answers(tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<html></html>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        done = setup_function_output("torch_index", TORCH_INDEX_URL=url)
        server.shutdown()
    assert done.stdout.strip() == url, done.stderr


def test_ci_runs_the_readme_test_command_which_lints_before_pytest():
    readme = (ROOT / "README.md").read_text()
    assert "./course test" in readme and "./course lab" in readme
    assert "./course test" in (ROOT / ".ci" / "run").read_text()
    branch = (ROOT / "course").read_text().split("\n    test)\n")[1].split(";;")[0]
    assert branch.index("-m ruff check .") < branch.index("-m pytest"), "./course test must lint before pytest"


def run_course(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "course"), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("ask", [[], ["help"], ["-h"], ["--help"]])
def test_course_runner_explains_itself(ask):
    shown = run_course(*ask)
    assert shown.returncode == 0 and "./course test" in shown.stdout and "./course lab" in shown.stdout


def test_course_runner_names_an_unknown_command():
    shown = run_course("tets")
    assert shown.returncode == 2
    assert "unknown command 'tets'" in shown.stderr and "./course test" in shown.stderr


def test_render_command_lists_scenes_and_names_a_bad_lesson(capsys):
    render_command.main(["--list"])
    assert "lesson01_rnn TitleCard UnrolledRecurrence ChainRule BackwardSignal FactorN" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        render_command.main(["--lesson", "99"])
    assert "no scene module for lesson '99'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        render_command.main(["--lesson", "one"])
    assert "must be a lesson number such as 1 or 01, got 'one'" in capsys.readouterr().err


def test_render_command_takes_lesson_1_as_01(capsys):
    render_command.main(["--lesson", "01", "--list"])
    two_digits = capsys.readouterr().out
    render_command.main(["--lesson", "1", "--list"])
    assert capsys.readouterr().out == two_digits
    first = render_command.lesson_modules()[0]
    assert two_digits.split() == [first, *render_command.scenes_in(first)]


@pytest.mark.parametrize(("asked", "closest"), [("DoesNotExist", None), ("factorn", "FactorN")])
def test_render_command_fails_on_an_unknown_scene_with_the_closest_and_the_list(asked, closest, capsys):
    with pytest.raises(SystemExit) as exited:
        render_command.main(["--scene", asked])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"no scene {asked!r} (closest: " in error
    assert closest is None or f"(closest: {closest!r})" in error
    for module in render_command.lesson_modules():
        assert f"{module}: {' '.join(render_command.scenes_in(module))}" in error


def test_render_command_prints_only_what_it_rendered(monkeypatch, capsys):
    calls = []

    def fake_render(module_name, scenes, quality, last_frame):
        calls.append((module_name, scenes, quality, last_frame))
        return [render_command.RENDERS / "images" / module_name / f"{scene}_ManimCE_v0.png" for scene in scenes]

    monkeypatch.setattr(render_command, "render", fake_render)
    render_command.main(["--scene", "FactorN", "-s"])
    assert calls == [("lesson01_rnn", ["FactorN"], "l", True)]
    assert capsys.readouterr().out.splitlines() == [
        "lesson01_rnn.FactorN: renders/images/lesson01_rnn/FactorN_ManimCE_v0.png"]


def test_recorded_results_are_found_from_anywhere(tmp_path, monkeypatch):
    from lessons.utils import results_path

    monkeypatch.chdir(tmp_path)              # notebooks run from copies elsewhere (the browser test does this)
    assert results_path("scan_cpu.md").is_file()


STEMS = {"01": "rnn", "02": "linear_rnn", "03": "complex_rnn", "04": "scan", "05": "lru", "06": "ssm",
         "07": "memory_traffic", "08": "ssd"}


@pytest.mark.parametrize("number, stem", STEMS.items())
def test_each_lesson_has_one_stem_in_every_folder(number, stem):
    """Lesson NN with stem S: notebooks/NN_S.ipynb, lessons/S.py, its widget, exercises, solutions, scenes and tests."""
    expected = [f"notebooks/{number}_{stem}.ipynb", f"lessons/{stem}.py", f"lessons/widgets/{stem}.py",
                f"lessons/exercises/{stem}.py", f"lessons/solutions/{stem}.py", f"animations/lesson{number}_{stem}.py"]
    missing = [path for path in expected if not (ROOT / path).is_file()]
    assert not missing, f"lesson {number} ({stem}) lacks {missing}"
    assert list((ROOT / "tests").glob(f"test_{stem}*.py")), f"no tests/test_{stem}*.py"
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    assert notebooks == [f"{number}_{stem}.ipynb"], notebooks
    assert f"notebooks/{number}_{stem}.ipynb" in (ROOT / "README.md").read_text()
