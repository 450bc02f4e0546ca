"""The class hub (classroom/): four students at once on a real JupyterHub, and the pieces it is built from.

The browser test starts `python -m classroom.hub` as root (one Unix account per student), logs in four students
at the same time from four headless Chromiums, and each opens lesson 01, runs all cells and moves the first
explorer's sliders with no error output. Each student's kernel then tries to read another student's notebook and
must get PermissionError. Ctrl-C (SIGINT) must stop the hub, the proxy, every server and kernel; the test then
deletes the accounts. Per-student times and slider latencies are printed and written to
test-artifacts/hub_load.md (results/hub_load.md records one run).
"""
from __future__ import annotations

import json
import os
import platform
import pwd
import re
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from classroom import hub
from classroom.polling import wait_for_http
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, free_port
from tests.conftest import WIDGET_LATENCIES

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
STUDENTS = ["hubtest-ana", "hubtest-ben", "hubtest-chloe", "hubtest-dev"]
GROUP = "course-hubtest"  # not the real class's group, so the test never touches a teacher's accounts
PASSWORD = "trial-password-for-the-test"
LESSON = "01_rnn.ipynb"
LOGIN_TIMEOUT_MS = 300_000  # four servers starting at once on two busy cores


# --- Students' files, accounts and the configuration (fast, no hub) ----------------------------------------------

def test_notebooks_copied_once_and_never_overwritten(tmp_path):
    first = hub.copy_course_notebooks(tmp_path)
    assert first == sorted(p.name for p in hub.NOTEBOOKS.glob("*.ipynb")) and LESSON in first
    mine = tmp_path / "notebooks" / LESSON
    mine.write_text("my work")
    (tmp_path / "notebooks" / "00_course_map.ipynb").unlink()  # a student who wants a lesson afresh
    assert hub.copy_course_notebooks(tmp_path) == ["00_course_map.ipynb"]
    assert mine.read_text() == "my work"


def test_every_scene_a_notebook_shows_is_found():
    # The hub renders these before students arrive (they cannot write to renders/): a call it missed would fail.
    calls = 0
    for notebook in hub.NOTEBOOKS.glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        calls += sum("".join(c["source"]).count("show_scene(") for c in cells if c["cell_type"] == "code")
    shown = hub.scenes_shown()
    assert sum(map(len, shown.values())) == calls and "FactorN" in shown["lesson01_rnn"]


def test_lab_defaults_leave_the_students_settings_alone(tmp_path):
    hub.write_lab_defaults(tmp_path)
    settings = tmp_path / ".jupyter/lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
    assert json.loads(settings.read_text()) == {"windowingMode": "none"}
    settings.write_text('{"windowingMode": "full"}')
    hub.write_lab_defaults(tmp_path)
    assert json.loads(settings.read_text()) == {"windowingMode": "full"}
    page_config = json.loads((tmp_path / ".jupyter/labconfig/page_config.json").read_text())
    assert page_config["disabledExtensions"]["@jupyter/nbgrader:formgrader"]  # no teacher tools for students


def test_copy_command_for_other_hubs(tmp_path, capsys):
    # What Zero to JupyterHub's postStart hook runs in each student's container (classroom/README.md).
    assert hub.main(["--copy-notebooks-to", str(tmp_path)]) == 0
    count = len(list(hub.NOTEBOOKS.glob("*.ipynb")))
    assert (tmp_path / "notebooks" / LESSON).exists() and f"Copied {count} notebooks" in capsys.readouterr().out
    assert hub.main(["--copy-notebooks-to", str(tmp_path)]) == 0
    assert "Copied 0 notebooks" in capsys.readouterr().out


@pytest.mark.parametrize("argv, named", [(["--password", "short"], "--password"),
                                         (["--threads-per-student", "0"], "--threads-per-student")])
def test_bad_options_are_named(argv, named, capsys):
    with pytest.raises(SystemExit):
        hub.parse_args(argv)
    assert named in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Ana", "ana smith", "../etc", "-rf", "a" * 40, ""])
def test_unsafe_student_names_are_refused(name):
    with pytest.raises(ValueError, match="student name"):
        hub.require_student_name(name)


def test_an_existing_account_outside_the_group_is_refused(tmp_path):
    # The shared password must never start a server as root (or a teacher, or a service).
    with pytest.raises(PermissionError, match="outside the group"):
        hub.ensure_student_account("root", tmp_path, GROUP)


def test_folders_students_cannot_enter_are_found(tmp_path):
    private = tmp_path / "private"
    (private / "venv").mkdir(parents=True)
    private.chmod(0o700)
    assert private in hub.unreachable_for_students([private / "venv"])
    private.chmod(0o711)
    assert private not in hub.unreachable_for_students([private / "venv"])


def load_config(tmp_path, monkeypatch, euid: int):
    """classroom/jupyterhub_config.py as JupyterHub loads it, with the launcher's settings, as user `euid`."""
    settings = {"state": tmp_path, "homes": tmp_path / "homes", "group": GROUP, "password": PASSWORD,
                "ip": "127.0.0.1", "port": 8000, "hub_port": 8081, "proxy_port": 8001, "threads": 1}
    for key, value in settings.items():
        monkeypatch.setenv(hub.ENV[key], str(value))
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    return PyFileConfigLoader(hub.CONFIG_FILE.name, str(hub.CONFIG_FILE.parent)).load_config()


@pytest.mark.parametrize("euid, spawner", [(0, "localprocess"), (1000, "simple")])
def test_config_serves_the_course(tmp_path, monkeypatch, euid, spawner):
    config = load_config(tmp_path, monkeypatch, euid)
    assert config.JupyterHub.spawner_class == spawner  # one Unix account per student only when root
    (server,) = config.Spawner.cmd
    assert os.access(server, os.X_OK), f"{server}: the course venv's jupyterhub-singleuser"
    assert Path(server).parent == Path(sys.executable).parent
    assert config.Spawner.pre_spawn_hook is hub.prepare_student
    notebook = config.Spawner.default_url.removeprefix("/lab/tree/")
    assert (hub.NOTEBOOKS.parent / notebook).exists(), f"default_url {config.Spawner.default_url}"
    assert config.ConfigurableHTTPProxy.command == [str(ROOT / "node_modules/.bin/configurable-http-proxy")]
    assert config.SharedPasswordAuthenticator.user_password == PASSWORD
    assert config.Spawner.environment["OMP_NUM_THREADS"] == "1"


# --- repo2docker's input (binder/) against scripts/setup.sh -------------------------------------------------------

BROWSER_TEST_ONLY = {"chromium"}  # the image serves students; it never runs the browser tests


def setup_system_packages() -> list[str]:
    """SYSTEM_PACKAGES from scripts/setup.sh (sourcing it defines, does not run)."""
    result = subprocess.run(["bash", "-c", 'source scripts/setup.sh && echo "${SYSTEM_PACKAGES[@]}"'],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_binder_apt_lists_setups_system_packages():
    lines = (ROOT / "binder" / "apt.txt").read_text().splitlines()
    apt = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    expected = [name for name in setup_system_packages() if name not in BROWSER_TEST_ONLY]
    assert apt == expected, "binder/apt.txt must list scripts/setup.sh's SYSTEM_PACKAGES, browser-only ones aside"


def test_binder_postbuild_installs_the_course_package():
    postbuild = ROOT / "binder" / "postBuild"
    assert postbuild.stat().st_mode & stat.S_IXUSR, "repo2docker runs postBuild only when it is executable"
    commands = [line.strip() for line in postbuild.read_text().splitlines() if line.strip()[:1] not in ("", "#")]
    assert "pip install --no-deps -e ." in commands
    assert (ROOT / "binder" / "environment.yml").resolve() == (ROOT / "environment.yml").resolve()


def test_zero_to_jupyterhub_config_in_the_guide_matches_the_hub():
    yaml = pytest.importorskip("yaml")
    guide = (ROOT / "classroom" / "README.md").read_text()
    (snippet,) = re.findall(r"```yaml\n# config.yaml\n(.*?)```", guide, re.S)
    singleuser = yaml.safe_load(snippet)["singleuser"]
    assert singleuser["defaultUrl"] == hub.DEFAULT_URL
    command = singleuser["lifecycleHooks"]["postStart"]["exec"]["command"]
    assert command[-4:] == ["-m", "classroom.hub", "--copy-notebooks-to", "/home/jovyan"]
    assert hub.parse_args(command[-2:]).copy_notebooks_to == Path("/home/jovyan")


# --- Four students at once on a real hub (root, Chromium) ---------------------------------------------------------

def processes_of(uids: set[int]) -> list[int]:
    """PIDs of the processes running as any of `uids` (their servers and kernels)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uid_line.split()[1]) in uids:
            pids.append(int(status.parent.name))
    return pids


def resident_mb(uids: set[int]) -> float:
    """Resident memory (VmRSS) of the processes of `uids`, in MB; pages shared between processes count in each."""
    total_kb = 0
    for pid in processes_of(uids):
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        total_kb += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total_kb / 1024


def student_uids() -> set[int]:
    return {pwd.getpwnam(name).pw_uid for name in hub.student_accounts(GROUP)}


@contextmanager
def course_reachable_by_students():
    """Let other users pass (o+x, not list) the folders on the way to the venv's Python; restore them after."""
    blocked = hub.unreachable_for_students(hub.course_paths())
    modes = {folder: folder.stat().st_mode for folder in blocked}
    for folder, mode in modes.items():
        folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in modes.items():
            folder.chmod(stat.S_IMODE(mode))


def ignore_sigint() -> None:
    """Start the launcher as a shell's background job starts (`./course hub &`, or CI's runner): SIGINT ignored.
    Ctrl-C must stop the hub all the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def running_hub(state: Path):
    """Start `python -m classroom.hub` as a teacher would; on exit press Ctrl-C and record what is left running.

    Yields a dict: url, homes; after exit also `left_running` (PIDs of students, the proxy and the launcher after
    Ctrl-C, killed afterwards) and `accounts_left` (student accounts still there after removal).
    """
    homes = Path(tempfile.mkdtemp(prefix="course-hub-homes-"))  # outside pytest's 700 tmp folder
    port = free_port()
    log = open(state / "hub.log", "w")
    launcher = subprocess.Popen([sys.executable, "-m", "classroom.hub", "--port", str(port), "--state", str(state),
                                 "--homes", str(homes), "--group", GROUP], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, hub.ENV["password"]: PASSWORD},
                                start_new_session=True, preexec_fn=ignore_sigint)
    run = {"url": f"http://127.0.0.1:{port}/", "homes": homes}
    try:
        wait_until_answering(f"{run['url']}hub/api/", launcher, state / "hub.log")
        yield run
    finally:
        proxy_pid = int((state / "proxy.pid").read_text()) if (state / "proxy.pid").exists() else None
        uids = student_uids()
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the teacher's terminal sends
        try:
            launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pass
        left = still_running(uids, [proxy_pid, launcher.pid])
        run["left_running"] = left
        for pid in left:
            _kill(pid)
        launcher.wait(timeout=30)
        log.close()
        time.sleep(1)
        hub.remove_students(GROUP)
        run["accounts_left"] = hub.student_accounts(GROUP)
        shutil.rmtree(homes, ignore_errors=True)


def wait_until_answering(url: str, launcher: subprocess.Popen, log: Path, timeout: float = 900) -> None:
    """Poll `url` until the hub answers (after rendering any scene still missing); fail with the end of its log if
    the launcher exits first."""
    try:
        wait_for_http(url, timeout=timeout, process=launcher, what="the hub launcher")
    except (ChildProcessError, TimeoutError) as problem:
        pytest.fail(f"the hub did not come up at {url} ({problem}); its log ends:\n{log.read_text()[-3000:]}")


def still_running(uids: set[int], pids: list[int | None], grace: float = 30) -> list[int]:
    """The processes of `uids` and those of `pids` still alive after `grace` seconds (kernels notice that their
    server has gone a moment after it exits)."""
    deadline = time.monotonic() + grace
    while True:
        left = processes_of(uids) + [pid for pid in pids if pid and _alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def log_in(page, url: str, name: str) -> None:
    """Log in on the hub's form and wait until the student's own JupyterLab shows the course map."""
    page.goto(f"{url}hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(f"/user/{name}/lab/tree/notebooks/00_course_map.ipynb"), timeout=LOGIN_TIMEOUT_MS)
    page.wait_for_selector(".jp-Notebook", timeout=LOGIN_TIMEOUT_MS)


# Runs `code` in the student's running kernel over the Jupyter kernel websocket, as JupyterLab itself does.
RUN_IN_KERNEL = r"""async ([base, code]) => {
  // JupyterHub's single-user server wants the _xsrf cookie echoed on cookie-authenticated API calls, GET too.
  const xsrf = (document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/) || [])[1] || '';
  const kernels = await (await fetch(base + 'api/kernels', {headers: {'X-XSRFToken': xsrf}})).json();
  const id = kernels[0].id, msgId = crypto.randomUUID();
  const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + base + 'api/kernels/' + id + '/channels');
  return await new Promise((resolve, reject) => {
    let out = '';
    ws.onerror = () => reject(new Error('kernel websocket failed'));
    ws.onopen = () => ws.send(JSON.stringify({channel: 'shell', buffers: [], metadata: {}, parent_header: {},
      header: {msg_id: msgId, msg_type: 'execute_request', username: '', session: msgId, version: '5.3',
               date: new Date().toISOString()},
      content: {code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false}}));
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      const msg = JSON.parse(event.data);
      if (msg.parent_header.msg_id !== msgId) return;
      if (msg.msg_type === 'stream') out += msg.content.text;
      if (msg.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
      if (msg.msg_type === 'status' && msg.content.execution_state === 'idle') { ws.close(); resolve(out); }
    };
  });
}"""
ATTEMPTS = """
import json, os
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as error:
        return type(error).__name__
print(json.dumps({{"own notebook": attempt(lambda: open({own!r}).read(1)),
                  "peer notebook": attempt(lambda: open({peer!r}).read(1)),
                  "peer home": attempt(lambda: os.listdir({peer_home!r})),
                  "list of homes": attempt(lambda: os.listdir({homes!r}))}}))
"""


def read_attempts(page, name: str, peer: str, homes: Path) -> dict[str, str]:
    """What the student's own kernel gets when it reads its notebook, a peer's, the peer's home and all homes."""
    code = ATTEMPTS.format(own=str(homes / name / "notebooks" / LESSON),
                           peer=str(homes / peer / "notebooks" / LESSON), peer_home=str(homes / peer),
                           homes=str(homes))
    output = page.evaluate(RUN_IN_KERNEL, [f"/user/{name}/", code])
    return json.loads(output.strip().splitlines()[-1])


def student_session(url: str, name: str, peer: str, homes: Path, everyone_in: threading.Barrier) -> dict:
    """One student in their own Chromium: log in, run lesson 01, move the sliders, try to read a peer's notebook."""
    # Reused from the single-user browser test; imported here so that pytest does not collect its tests twice.
    from tests.test_browser import error_outputs, exercise_explorer, open_and_run_all, playwright_api
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        try:
            start = time.perf_counter()
            log_in(page, url, name)
            logged_in = time.perf_counter()
            open_and_run_all(page, f"{url}user/{name}/lab/tree/notebooks/{LESSON}?reset")
            ran = time.perf_counter()
            explorer = page.locator(".widget-vbox").filter(has=page.locator(".explorer-readout")).first
            exercise_explorer(page, f"hub {name}: {LESSON}", 0, explorer)
            errors = error_outputs(page)
            everyone_in.wait()  # every peer's home exists before anyone tries to read it
            attempts = read_attempts(page, name, peer, homes)
            return {"name": name, "login_s": logged_in - start, "run_all_s": ran - logged_in,
                    "total_s": time.perf_counter() - start, "errors": errors, "attempts": attempts}
        except Exception:
            everyone_in.abort()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"hub-{name}.png"), full_page=True)
            raise
        finally:
            browser.close()


def latencies_of(name: str) -> list[float]:
    return [ms for label, _control, ms in WIDGET_LATENCIES if label.startswith(f"hub {name}:")]


def load_report(sessions: list[dict], memory: dict[str, float]) -> str:
    """A markdown table of per-student times and slider latencies, with the date and the machine."""
    lines = [f"# Four students at once on the course hub ({LESSON})", "",
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}: {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, Python {platform.python_version()}", "",
             "| student | log in to course map (s) | run all of lesson 01 (s) | whole session (s) "
             "| slider moves | latency median (ms) | latency max (ms) | server + kernel RSS (MB) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sessions:
        ms = latencies_of(s["name"])
        lines.append(f"| {s['name']} | {s['login_s']:.1f} | {s['run_all_s']:.1f} | {s['total_s']:.1f} | {len(ms)} "
                     f"| {statistics.median(ms):.0f} | {max(ms):.0f} | {memory[s['name']]:.0f} |")
    return "\n".join(lines) + "\n"


@pytest.mark.browser
@pytest.mark.timeout(2400)
@pytest.mark.skipif(os.geteuid() != 0, reason="one Unix account per student needs root (CI runs as root)")
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
@pytest.mark.skipif(not hub.PROXY.exists(), reason="no configurable-http-proxy: run ./course setup (npm ci)")
def test_four_students_at_once(tmp_path, monkeypatch):
    test_browser = pytest.importorskip("tests.test_browser")
    # Lesson 01 needs about 100 s of one core: four at once on two cores take minutes (more on a loaded machine).
    monkeypatch.setattr(test_browser, "RUN_TIMEOUT_MS", 1_200_000)
    everyone_in = threading.Barrier(len(STUDENTS), timeout=LOGIN_TIMEOUT_MS / 1e3 + 600)
    peers = dict(zip(STUDENTS, STUDENTS[1:] + STUDENTS[:1], strict=True))
    with course_reachable_by_students(), running_hub(tmp_path) as run:
        with ThreadPoolExecutor(len(STUDENTS)) as pool:
            futures = [pool.submit(student_session, run["url"], name, peers[name], run["homes"], everyone_in)
                       for name in STUDENTS]
            sessions = [future.result() for future in futures]
        homes = {name: ((run["homes"] / name).stat(), pwd.getpwnam(name).pw_uid) for name in STUDENTS}
        memory = {name: resident_mb({uid}) for name, (_home, uid) in homes.items()}
    report = load_report(sessions, memory)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "hub_load.md").write_text(report)
    print("\n" + report)
    for s in sessions:
        assert not s["errors"], f"{s['name']}: error outputs {s['errors']}"
        assert s["attempts"] == {"own notebook": "allowed", "peer notebook": "PermissionError",
                                 "peer home": "PermissionError", "list of homes": "PermissionError"}, s["name"]
    for name, (home, uid) in homes.items():
        assert (stat.S_IMODE(home.st_mode), home.st_uid) == (0o700, uid), f"{name}'s home: mode 700, theirs"
    assert run["left_running"] == [], "still running after Ctrl-C: " + ", ".join(map(str, run["left_running"]))
    assert run["accounts_left"] == []
