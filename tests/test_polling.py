"""classroom.polling.wait_for_http: returns once a server answers, names a server that died, times out."""
import subprocess
import sys

import pytest

from classroom.polling import wait_for_http
from tests.browser import free_port, static_site


def test_returns_once_the_server_answers(tmp_path):
    with static_site(tmp_path) as base:
        wait_for_http(f"{base}/", timeout=10)


def test_a_server_that_exits_is_named_at_once():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(ChildProcessError, match="the test server exited with status 3 before answering"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=30, process=process, what="the test server")


def test_nothing_listening_times_out_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(TimeoutError, match=f"did not answer at {url} within 1 s"):
        wait_for_http(url, timeout=1)
