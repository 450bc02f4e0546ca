"""Helpers for the browser test: a throwaway JupyterLab server and a headless Chromium driven by Playwright."""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from classroom.polling import wait_for_http

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LAB_SETTINGS = {
    # Render every cell: JupyterLab's virtual scrolling would otherwise detach off-screen widgets.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No "get notified about news?" toast over the page, and no request out to fetch news.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def write_lab_settings(settings_dir: Path) -> None:
    """Write the user settings the browser test relies on."""
    for relative, values in LAB_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that does not print a line per request."""

    def log_message(self, format, *args) -> None:
        pass


@contextmanager
def static_site(folder: Path):
    """Serve `folder` on 127.0.0.1 from a background thread; yields the base URL, e.g. http://127.0.0.1:PORT."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def jupyter_lab(notebooks: list[Path], workdir: Path):
    """Serve copies of `notebooks` (so autosave never touches the repository) from a fresh HOME, on loopback.

    Yields the base URL. No token: the server listens on 127.0.0.1 only and lives for one test session.
    """
    home, root = workdir / "home", workdir / "root" / "notebooks"
    root.mkdir(parents=True)
    home.mkdir()
    for notebook in notebooks:
        shutil.copy(notebook, root / notebook.name)
    write_lab_settings(home / "settings")
    port = free_port()
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root.parent}",
               f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
               "--ServerApp.disable_check_xsrf=True"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(workdir / "jupyter.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/api/status", process=server, what="JupyterLab")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
