"""JupyterHub configuration serving the course to a class from one install (started by `./course hub`).

One JupyterLab per student, run by the course's venv (its `jupyterhub-singleuser`, its Python as the kernel);
on each login the student's home gets the notebooks they lack (never overwriting theirs), and the course map is
the first page. As root each student is a Unix account of their own (LocalProcessSpawner), otherwise all share
the hub's account (SimpleLocalProcessSpawner, no isolation). classroom/hub.py passes the settings below through
COURSE_HUB_* environment variables; classroom/README.md shows how to swap the trial's shared password for a real
authenticator.
"""
import os
from pathlib import Path

from classroom.hub import DEFAULT_URL, ENV, PROXY, SINGLE_USER_SERVER, STUDENT_NAME, prepare_student

c = get_config()  # noqa: F821 (JupyterHub defines it when it loads this file)
state = Path(os.environ[ENV["state"]])

# --- Where the hub listens and keeps its state ---
c.JupyterHub.bind_url = f"http://{os.environ[ENV['ip']]}:{os.environ[ENV['port']]}"
c.JupyterHub.hub_port = int(os.environ[ENV["hub_port"]])  # the hub's own API, behind the proxy
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every student's server (and so their kernels)

# --- The proxy, from node_modules (npm ci in scripts/setup.sh) ---
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ[ENV['proxy_port']]}"
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

# --- Who may log in: anyone with a valid name and the shared password (a trial; see classroom/README.md) ---
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ[ENV["password"]]
c.Authenticator.allow_all = True
c.Authenticator.username_pattern = STUDENT_NAME.pattern

# --- One JupyterLab per student ---
if os.geteuid() == 0:
    c.JupyterHub.spawner_class = "localprocess"  # runs as the student's own Unix account
else:
    c.JupyterHub.spawner_class = "simple"  # runs as the hub's account: no isolation (hub.py warns)
    c.SimpleLocalProcessSpawner.home_dir_template = str(Path(os.environ[ENV["homes"]]) / "{username}")
c.Spawner.cmd = [str(SINGLE_USER_SERVER)]
c.Spawner.default_url = DEFAULT_URL
c.Spawner.pre_spawn_hook = prepare_student
threads = os.environ[ENV["threads"]]
c.Spawner.environment = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}  # torch's CPU threads per kernel
c.Spawner.start_timeout = 180  # many students logging in at once on few cores
c.Spawner.http_timeout = 180
