"""A private PostgreSQL server on a loopback port, for the run command and the tests.

It uses the server binaries installed on the machine (Debian's `postgresql` package or any `initdb`
on PATH). PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user.
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg

SERVER_USER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bindir():
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
                      reverse=True)
    candidates += [os.path.dirname(p) for p in versions]
    for bindir in candidates:
        if os.access(os.path.join(bindir, "postgres"), os.X_OK):
            return bindir
    raise EmbeddedPostgresError(
        "No PostgreSQL server binaries found. Install them (Debian/Ubuntu: apt-get install postgresql; "
        "macOS: brew install postgresql) or set DATABASE_URL to an existing server.")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedPostgres:
    """initdb (once) + pg_ctl start/stop of a server that listens on 127.0.0.1 only."""

    def __init__(self, data_dir=None, port=None, fast_unsafe=False):
        self.bindir = find_bindir()
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="chat-engine-pg-")
        self.port = port or free_port()
        # fsync off is for throwaway test clusters only: a crash may lose their data.
        self.fast_unsafe = fast_unsafe
        self._as_user = None
        if os.geteuid() == 0:
            try:
                self._as_user = pwd.getpwnam(SERVER_USER)
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    f"running as root needs a '{SERVER_USER}' system user to own the server") from exc

    @property
    def url(self):
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args, check=True):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self._as_user:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
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
        if os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
            self._run("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop", check=False)

    def destroy(self):
        self.stop(mode="immediate")
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()
