"""A trial JupyterHub serving the course to a class on this machine: `./course hub` (guide: classroom/README.md).

Each student logs in with a name of their choosing and the shared password printed at start, and gets their own
JupyterLab, started by the course's venv, with their own copy of the notebooks (copied on first login, never
overwritten later) and the course map as the first page.

Run as root, every student is a Unix account of their own (created on first login, member of the group
`course-students`, home mode 700), so one student cannot read another's files. Run as anyone else, all students
share the hub's Unix account and can read each other's files: the hub says so loudly at start.

    python -m classroom.hub [--ip 127.0.0.1] [--port 8000] [--state build/hub] [--homes DIR]
    python -m classroom.hub --copy-notebooks-to HOME     # what a first login does, for other hubs (Kubernetes)
    python -m classroom.hub --remove-students            # delete the student accounts a trial created (root)
"""
from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

from animations.render import find_rendered, render_lessons
from classroom.polling import wait_for_http

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = Path(__file__).with_name("jupyterhub_config.py")
NOTEBOOKS = ROOT / "notebooks"
PROXY = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
VENV_BIN = Path(sys.prefix) / "bin"  # the course's venv: its jupyterhub-singleuser serves each student
SINGLE_USER_SERVER = VENV_BIN / "jupyterhub-singleuser"
DEFAULT_URL = "/lab/tree/notebooks/00_course_map.ipynb"  # relative to the student's home
SHOWN_SCENE = re.compile(r'show_scene\(\s*"(\w+)",\s*"(\w+)"')  # show_scene("lesson01_rnn", "FactorN") in a cell
STUDENT_GROUP = "course-students"
STUDENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")  # a safe Unix user name; JupyterHub lower-cases logins
# JupyterLab defaults written into a new student's home (paths relative to it): every cell rendered (virtual
# scrolling would detach the explorers' widgets while they are off-screen), no news or update checks from each of
# 30 browsers, and none of nbgrader's teacher tools (students keep its assignment list and validate button).
_USER_SETTINGS = ".jupyter/lab/user-settings"
LAB_DEFAULTS = {
    f"{_USER_SETTINGS}/@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    f"{_USER_SETTINGS}/@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                           "checkForUpdates": False},
    ".jupyter/labconfig/page_config.json": {"disabledExtensions": {"@jupyter/nbgrader:formgrader": True,
                                                                   "@jupyter/nbgrader:create-assignment": True,
                                                                   "@jupyter/nbgrader:course-list": True}},
}
# How the launcher hands its settings to jupyterhub_config.py (JupyterHub runs that file in its own process).
ENV = {"state": "COURSE_HUB_STATE", "homes": "COURSE_HUB_HOMES", "group": "COURSE_HUB_GROUP",
       "password": "COURSE_HUB_PASSWORD", "ip": "COURSE_HUB_IP", "port": "COURSE_HUB_PORT",
       "hub_port": "COURSE_HUB_API_PORT", "proxy_port": "COURSE_HUB_PROXY_API_PORT", "threads": "COURSE_HUB_THREADS"}


# --- The students' files -----------------------------------------------------------------------------------------

def copy_course_notebooks(home: Path, owner: tuple[int, int] | None = None) -> list[str]:
    """Copy each course notebook that `home`/notebooks lacks into it; never overwrite one. Return the names copied.

    A student who wants a lesson afresh deletes (or renames) their copy and logs in again.
    """
    target = home / "notebooks"
    new_folder = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    copied = [source.name for source in sorted(NOTEBOOKS.glob("*.ipynb")) if not (target / source.name).exists()]
    for name in copied:
        shutil.copyfile(NOTEBOOKS / name, target / name)
    if owner:
        _hand_over([target] if new_folder else [], owner)
        _hand_over([target / name for name in copied], owner)
    return copied


def write_lab_defaults(home: Path, owner: tuple[int, int] | None = None) -> None:
    """Write LAB_DEFAULTS into the student's home, leaving any settings file they have alone."""
    for relative, values in LAB_DEFAULTS.items():
        path = home / relative
        if path.exists():
            continue
        created = [parent for parent in reversed(path.parents) if parent.is_relative_to(home) and not parent.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))
        if owner:
            _hand_over([*created, path], owner)


def _hand_over(paths: list[Path], owner: tuple[int, int]) -> None:
    """Give `paths` to the student (uid, gid) and make them private: rwx------ for folders, rw------- for files."""
    for path in paths:
        os.chown(path, *owner)
        os.chmod(path, 0o700 if path.is_dir() else 0o600)


def prepare_home(home: Path, owner: tuple[int, int] | None = None) -> list[str]:
    """Everything a first login needs in `home`: the notebooks and the JupyterLab defaults."""
    copied = copy_course_notebooks(home, owner)
    write_lab_defaults(home, owner)
    return copied


# --- The scenes the notebooks show, rendered once for every student -------------------------------------------

def scenes_shown() -> dict[str, list[str]]:
    """{scene module: [Scene, ...]} that the notebooks' code cells show with animations.render.show_scene."""
    shown: dict[str, list[str]] = {}
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        for module, scene in SHOWN_SCENE.findall(code):
            shown.setdefault(module, []).append(scene)
    return shown


def render_missing_scenes() -> dict[str, list[str]]:
    """Render (low quality, into renders/) the shown scenes that have no video yet; return what was rendered.

    Students cannot write to renders/, so show_scene must find every video there: rendered once, by the teacher.
    """
    missing = {module: [scene for scene in scenes if find_rendered(module, scene) is None]
               for module, scenes in scenes_shown().items()}
    missing = {module: scenes for module, scenes in missing.items() if scenes}
    if missing:
        count = sum(map(len, missing.values()))
        print(f"Rendering the {count} scenes the notebooks show that have no video yet, once for every student "
              "(minutes; ./course render makes them all)", flush=True)
        render_lessons(missing, quality="l")
    return missing


# --- One Unix account per student (root only) --------------------------------------------------------------------

def require_student_name(name: str) -> str:
    """Return `name` if it is a safe Unix user name for a student, else raise naming the rule."""
    if not STUDENT_NAME.fullmatch(name):
        raise ValueError(f"student name {name!r}: use 1-31 lower-case letters, digits or '-', starting with a letter")
    return name


def student_accounts(group: str = STUDENT_GROUP) -> list[str]:
    """The Unix accounts in `group` (the students a hub created), sorted."""
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


def ensure_student_account(name: str, homes: Path, group: str = STUDENT_GROUP) -> pwd.struct_passwd:
    """The student's Unix account, created on first login (home `homes`/name, mode 700, member of `group`).

    An existing account outside `group` (root, a teacher, a service) is refused: the shared password must never
    start a server as that account.
    """
    require_student_name(name)
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        account = None
    if account is not None:
        if name not in student_accounts(group):
            raise PermissionError(f"{name!r} is an existing Unix account outside the group {group!r}: "
                                  "choose another student name")
        return account
    if not _group_exists(group):
        subprocess.run(["groupadd", "--system", group], check=True)
    subprocess.run(["useradd", "--create-home", "--home-dir", str(homes / name), "--shell", "/bin/bash",
                    "--user-group", "--groups", group, "--comment", "course student", name], check=True)
    os.chmod(homes / name, 0o700)
    return pwd.getpwnam(name)


def _group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


def remove_student_account(name: str, group: str = STUDENT_GROUP) -> None:
    """Delete a student account the hub created, with its home; refuse one outside `group`."""
    if name not in student_accounts(group):
        raise PermissionError(f"{name!r} is not in the group {group!r}: not a student account of this hub")
    subprocess.run(["userdel", "--remove", name], check=True, stderr=subprocess.DEVNULL)


def remove_students(group: str = STUDENT_GROUP) -> list[str]:
    """Delete every student account in `group`, then the group itself. Return the names removed."""
    names = student_accounts(group)
    for name in names:
        remove_student_account(name, group)
    if _group_exists(group):
        subprocess.run(["groupdel", group], check=True)
    return names


def unreachable_for_students(paths: list[Path]) -> list[Path]:
    """Folders on the way to `paths` that other Unix users cannot enter (no o+x): students could not run the venv.

    Example: a Python installed under /root (mode 700) by pyenv; `chmod o+x /root` lets others pass, not list.
    """
    blocked = []
    for path in paths:
        resolved = path.resolve()
        for folder in [*reversed(resolved.parents), *([resolved] if resolved.is_dir() else [])]:
            if not folder.stat().st_mode & stat.S_IXOTH and folder not in blocked:
                blocked.append(folder)
    return blocked


def course_paths() -> list[Path]:
    """What a student's server must reach: the venv's Python (through its links) and this repository."""
    return [Path(os.path.realpath(VENV_BIN / "python")), VENV_BIN, ROOT / "lessons", ROOT / "kernels"]


# --- The spawner's hook ------------------------------------------------------------------------------------------

def prepare_student(spawner) -> None:
    """JupyterHub's pre_spawn_hook: make the student's account (when root) and copy in what they lack."""
    name = spawner.user.name
    if getattr(spawner, "home_dir", None):  # SimpleLocalProcessSpawner: every student is the hub's own account
        home = Path(spawner.home_dir)
        home.mkdir(parents=True, exist_ok=True)
        copied = prepare_home(home)
    else:
        account = ensure_student_account(name, Path(os.environ[ENV["homes"]]), os.environ[ENV["group"]])
        copied = prepare_home(Path(account.pw_dir), (account.pw_uid, account.pw_gid))
    spawner.log.info("Student %s: copied %d notebooks (%s)", name, len(copied), ", ".join(copied) or "none new")


# --- The launcher ------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./course hub", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0 for a classroom network)")
    parser.add_argument("--port", type=int, default=8000, help="the port students open")
    parser.add_argument("--state", type=Path, default=ROOT / "build" / "hub",
                        help="folder for the hub's database, cookie secret and log (git-ignored)")
    parser.add_argument("--homes", type=Path, default=None,
                        help="folder of the students' homes (default: STATE/homes)")
    parser.add_argument("--group", default=STUDENT_GROUP, help="Unix group of the student accounts (root only)")
    parser.add_argument("--threads-per-student", type=int, default=1,
                        help="CPU threads each student's kernel may use (torch starts one per core otherwise, and "
                             "a class of kernels would fight over them)")
    parser.add_argument("--password", default=os.environ.get(ENV["password"]),
                        help=f"the students' shared password (default: ${ENV['password']}, else a new random one)")
    parser.add_argument("--copy-notebooks-to", type=Path, metavar="HOME",
                        help="only copy the notebooks a student lacks into HOME/notebooks, then exit")
    parser.add_argument("--remove-students", action="store_true",
                        help="only delete the student accounts of --group and their homes, then exit")
    args = parser.parse_args(argv)
    if args.threads_per_student < 1:
        parser.error(f"--threads-per-student: use 1 or more, not {args.threads_per_student}")
    if args.password is not None and len(args.password) < 8:
        parser.error("--password: use at least 8 characters (JupyterHub's SharedPasswordAuthenticator needs them)")
    args.homes = (args.homes or args.state / "homes").resolve()
    args.state = args.state.resolve()
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hub_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment jupyterhub runs in: the settings for jupyterhub_config.py and the venv first on PATH."""
    settings = {"state": args.state, "homes": args.homes, "group": args.group, "password": args.password,
                "ip": args.ip, "port": args.port, "hub_port": free_port(), "proxy_port": free_port(),
                "threads": args.threads_per_student}
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    # The repository on PYTHONPATH: the config imports classroom.hub even where the editable install predates it.
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PATH": path, "PYTHONPATH": python_path,
            **{ENV[key]: str(value) for key, value in settings.items()}}


def isolation_problem(args: argparse.Namespace) -> str | None:
    """Why students would not be isolated (or could not start), in words; None when each gets a Unix account."""
    if os.geteuid() != 0:
        return ("NOT ISOLATED: the hub is not running as root, so every student runs as the Unix user "
                f"{pwd.getpwuid(os.geteuid()).pw_name!r} and CAN READ EVERY OTHER STUDENT'S FILES. Fine for a "
                "trial by one teacher; for a class, run it as root (sudo ./course hub).")
    blocked = unreachable_for_students([*course_paths(), args.homes.parent])
    if blocked:
        return (f"students' accounts cannot enter {', '.join(map(str, blocked))} (no execute permission for "
                f"others), so they cannot run the course's Python ({course_paths()[0]}). "
                f"Let them pass without listing: chmod o+x {' '.join(map(str, blocked))}")
    return None


def hub_url(args: argparse.Namespace) -> str:
    """The address students open (on this machine when the hub listens on every interface)."""
    host = "127.0.0.1" if args.ip in ("", "0.0.0.0") else args.ip
    return f"http://{host}:{args.port}/"


def banner(args: argparse.Namespace, isolated: bool) -> str:
    """What the teacher reads once the hub answers: where to go and how to log in."""
    lines = [f"The course hub is running at {hub_url(args)}",
             f"Students log in with any name ({STUDENT_NAME.pattern}) and the password: {args.password}",
             "Each gets their own JupyterLab and copy of the notebooks, opening on the course map.",
             f"Students' homes: {args.homes}   state and log: {args.state}",
             "Stop with Ctrl-C (stops every student's server and kernels)."]
    if isolated:
        lines.append(f"Each student is a Unix account in the group {args.group!r}; "
                     f"remove them after the trial: ./course hub --remove-students --group {args.group}")
    width = max(map(len, lines))
    return "\n".join(["=" * width, *lines, "=" * width])


def stop(hub: subprocess.Popen, timeout: float = 60) -> int:
    """Stop jupyterhub as Ctrl-C does (it stops the students' servers and the proxy), then wait for it."""
    if hub.poll() is None:
        hub.send_signal(signal.SIGINT)
    try:
        return hub.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        hub.kill()
        return hub.wait()


def serve(args: argparse.Namespace) -> int:
    """Start jupyterhub with classroom/jupyterhub_config.py, print the banner, run until Ctrl-C."""
    if not PROXY.exists():
        sys.exit(f"configurable-http-proxy is missing at {PROXY}: run ./course setup (npm ci installs it)")
    problem = isolation_problem(args)
    isolated = os.geteuid() == 0
    if isolated and problem:
        sys.exit(f"Refusing to start: {problem}")
    if problem:
        print(f"\n!!! WARNING: {problem}\n", file=sys.stderr, flush=True)
    render_missing_scenes()
    args.password = args.password or secrets.token_urlsafe(9)
    args.state.mkdir(parents=True, exist_ok=True)
    args.homes.mkdir(parents=True, exist_ok=True)
    os.chmod(args.homes, 0o711)  # students can enter their own home, not list the others'
    # In a session of its own, so that Ctrl-C reaches it once, from stop(), not also from the terminal.
    hub = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(CONFIG_FILE)], cwd=args.state,
                           env=hub_environment(args), start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops the hub as cleanly as Ctrl-C does
    # A shell's background job starts with SIGINT ignored, and Python then keeps it ignored: Ctrl-C (or the test's
    # SIGINT) would leave the hub running. Take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            wait_for_http(f"{hub_url(args)}hub/api/", timeout=120, process=hub, what="jupyterhub")
        except ChildProcessError as exited:
            sys.exit(f"{exited}: see its log above")
        print(banner(args, isolated), flush=True)
        return hub.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(hub)
        print("The course hub stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.copy_notebooks_to:
        copied = prepare_home(args.copy_notebooks_to.expanduser())
        print(f"Copied {len(copied)} notebooks into {args.copy_notebooks_to / 'notebooks'}: {', '.join(copied)}")
        return 0
    if args.remove_students:
        print(f"Removed the student accounts: {', '.join(remove_students(args.group)) or 'none'}")
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
