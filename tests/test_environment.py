"""The two install routes list the same packages, and CI runs the README's test command."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def split_pin(item: str) -> tuple[str, str]:
    """'numpy==2.4.*', 'numpy=2.4.*' or 'pytorch=2.13.*=cpu*' -> (PyPI name, version without build)."""
    name, *rest = re.split(r"==?", item.split("#")[0].strip())
    name = name.strip().lower()
    return CONDA_NAMES.get(name, name), rest[0] if rest else ""


def pip_requirements() -> dict[str, str]:
    """{name: version} from requirements.txt."""
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.split("#")[0].strip()]
    return dict(split_pin(line) for line in lines)


def conda_requirements() -> dict[str, str]:
    """{PyPI name: version} from environment.yml, its conda and pip sections together."""
    entries = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    items = [item for entry in entries for item in (entry["pip"] if isinstance(entry, dict) else [entry])]
    return dict(split_pin(item) for item in items)


def test_conda_and_pip_routes_agree():
    pip, conda = pip_requirements(), conda_requirements()
    missing = sorted(set(pip) - set(conda))
    assert not missing, f"environment.yml lacks {missing}"
    for name, version in pip.items():
        assert version.startswith(conda[name].rstrip(".*")) and conda[name], \
            f"{name}: requirements.txt pins {version}, environment.yml {conda[name] or 'nothing'}"


def test_torch_is_pinned_to_the_cpu_build_version():
    assert pip_requirements()["torch"] == "2.13.0"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./course test" in readme and "./course lab" in readme
    assert "./course test" in (ROOT / ".ci" / "run").read_text()


def test_course_runner_explains_itself_and_rejects_unknown_commands():
    import subprocess

    shown = subprocess.run(["bash", str(ROOT / "course"), "help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "./course test" in shown.stdout and "./course lab" in shown.stdout
    assert subprocess.run(["bash", str(ROOT / "course"), "bogus"], capture_output=True).returncode == 2


def test_render_command_lists_scenes_and_names_a_bad_lesson(capsys):
    import pytest

    from animations.render import main

    main(["--list"])
    assert "lesson01_rnn BackwardSignal FactorN" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--lesson", "99"])
    assert "no scene module for lesson '99'" in capsys.readouterr().err


def test_recorded_results_are_found_from_anywhere(tmp_path, monkeypatch):
    from lessons.utils import results_path

    monkeypatch.chdir(tmp_path)              # notebooks run from copies elsewhere (the browser test does this)
    assert results_path("scan_cpu.md").is_file()
