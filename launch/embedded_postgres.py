"""A private PostgreSQL server on a loopback port, for the run command and the tests.

It uses the server binaries installed on the machine (Debian's `postgresql` package or any `initdb`
on PATH; CHAT_ENGINE_PG_BINDIR names the one directory to use instead). Without any, it falls back to
the PostgreSQL that the `pgserver` pip package ships (requirements-dev.txt), so a machine with nothing
but Python can run and test the engine. PostgreSQL refuses to run as root, so under root the server
runs as the `postgres` user (or a `pgserver` system user, created when no `postgres` user exists).
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import psycopg

SERVER_USER = "postgres"
FALLBACK_SERVER_USER = "pgserver"
BINDIR_VARIABLE = "CHAT_ENGINE_PG_BINDIR"


class EmbeddedPostgresError(RuntimeError):
    pass


def _system_candidates():
    chosen = os.environ.get(BINDIR_VARIABLE)
    if chosen:
        return [chosen]
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
                      reverse=True)
    return candidates + [os.path.dirname(p) for p in versions]


def _has_server(bindir):
    return all(os.access(os.path.join(bindir, name), os.X_OK) for name in ("postgres", "initdb", "pg_ctl"))


def pip_bindir():
    """The binaries the `pgserver` package ships, or None when it is not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return str(POSTGRES_BIN_PATH) if _has_server(str(POSTGRES_BIN_PATH)) else None


def find_bindir():
    """(bindir, from_pip): the machine's server binaries, else pgserver's."""
    for bindir in _system_candidates():
        if _has_server(bindir):
            return bindir, False
    fallback = pip_bindir()
    if fallback:
        return fallback, True
    raise EmbeddedPostgresError(
        "No PostgreSQL server binaries found. Install them (Debian/Ubuntu: apt-get install postgresql; "
        "macOS: brew install postgresql), `pip install pgserver`, or set DATABASE_URL to an existing server.")


def _server_user(from_pip):
    """Under root: the system user the server runs as (PostgreSQL refuses root)."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        if not from_pip:
            raise EmbeddedPostgresError(
                f"running as root needs a '{SERVER_USER}' system user to own the server") from None
    from pgserver.utils import ensure_user_exists

    return ensure_user_exists(FALLBACK_SERVER_USER)


def _let_server_user_run(bindir):
    """pgserver's binaries live in a root-owned virtualenv: the server user must reach and run them."""
    from pathlib import Path

    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

    install = Path(bindir).parent
    ensure_prefix_permissions(install)
    ensure_folder_permissions(install, 0o055)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedPostgres:
    """initdb (once) + pg_ctl start/stop of a server that listens on 127.0.0.1 only."""

    def __init__(self, data_dir=None, port=None, fast_unsafe=False):
        self.bindir, self.from_pip = find_bindir()
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="chat-engine-pg-")
        self.port = port or free_port()
        # fsync off is for throwaway test clusters only: a crash may lose their data.
        self.fast_unsafe = fast_unsafe
        self._as_user = None
        if os.geteuid() == 0:
            self._as_user = _server_user(self.from_pip)
            if self.from_pip:
                _let_server_user_run(self.bindir)

    @property
    def url(self):
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args, check=True):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self._as_user:
            cmd = ["runuser", "-u", self._as_user.pw_name, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def _prepare_dir(self):
        os.makedirs(self.data_dir, exist_ok=True)
        if self._as_user:
            os.chown(self.data_dir, self._as_user.pw_uid, self._as_user.pw_gid)
            # The server user must be able to reach the directory through its parents.
            parent = os.path.dirname(os.path.abspath(self.data_dir))
            while parent != "/":
                mode = os.stat(parent).st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                parent = os.path.dirname(parent)
        os.chmod(self.data_dir, 0o700)

    def start(self):
        self._prepare_dir()
        if not os.path.exists(os.path.join(self.data_dir, "PG_VERSION")):
            self._run("initdb", "-D", self.data_dir, "-U", SERVER_USER, "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                   f"-c unix_socket_directories={self.data_dir}", "-c max_connections=300"]
        if self.fast_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run("pg_ctl", "-D", self.data_dir, "-l", os.path.join(self.data_dir, "server.log"),
                  "-o", " ".join(options), "-w", "-t", "60", "start")
        self._wait_accepting()
        return self

    def _wait_accepting(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise EmbeddedPostgresError(f"server on port {self.port} did not accept connections")

    def stop(self, mode="fast"):
        """Stop the server and wait for it; a stop that did not take (pg_ctl failing, or giving up
        waiting on a loaded machine) is tried again in immediate mode, and what pg_ctl said is shown."""
        for attempt in (mode, "immediate"):
            if not os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
                return
            result = self._run("pg_ctl", "-D", self.data_dir, "-m", attempt, "-w", "-t", "120", "stop", check=False)
            if result.returncode != 0:
                print(f"pg_ctl stop -m {attempt}: {(result.stderr or result.stdout).strip()}", file=sys.stderr,
                      flush=True)

    def destroy(self):
        self.stop(mode="immediate")
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()
