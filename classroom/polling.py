"""Waiting for a server to answer over HTTP: the trial hub's launcher and the browser tests share it."""
from __future__ import annotations

import subprocess
import time
import urllib.request


def wait_for_http(url: str, timeout: float = 60, process: subprocess.Popen | None = None,
                  what: str = "the server") -> None:
    """Poll `url` until it answers (any HTTP status). Raise ChildProcessError as soon as `process`, the server being
    waited for, has exited, and TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ChildProcessError(f"{what} exited with status {process.returncode} before answering at {url}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} did not answer at {url} within {timeout:.0f} s") from None
            time.sleep(0.3)
