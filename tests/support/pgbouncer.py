"""A real PgBouncer in transaction mode in front of the test PostgreSQL.

Debian's `pgbouncer` package is installed when missing (the suite runs as root on CI; elsewhere, a
machine without it and without apt skips what needs it). PgBouncer refuses to run as root, so under
root it runs as the `postgres` user, like the embedded server.
"""
import fcntl
import os
import pwd
import shutil
import subprocess
import tempfile

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from launch.embedded_postgres import SERVER_USER, free_port
from support.waiting import wait_until

INSTALL_LOCK = "/tmp/chat-engine-apt.lock"


def binary():
    """pgbouncer's path, installing Debian's package when it is missing; None when it cannot be had."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    with open(INSTALL_LOCK, "w") as lock:  # one install at a time (apt's own lock fails, it does not wait)
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which("pgbouncer", path="/usr/sbin")
        if not found:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            install = ["apt-get", "install", "-y", "--no-install-recommends", "pgbouncer"]
            if subprocess.run(install, env=env, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update"], env=env, capture_output=True)
                subprocess.run(install, env=env, capture_output=True)
            found = shutil.which("pgbouncer", path="/usr/sbin")
    return found


class PgBouncer:
    """`url` goes through the pooler (transaction mode); the server stays reachable directly."""

    def __init__(self, server_url, pool_size=20):
        self.executable = binary()
        if self.executable is None:
            raise RuntimeError("pgbouncer is not installed and could not be installed")
        server = conninfo_to_dict(server_url)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="chat-engine-pgbouncer-")
        user = server.get("user", SERVER_USER)
        self.url = make_conninfo(server_url, host="127.0.0.1", port=self.port)
        with open(os.path.join(self.dir, "users.txt"), "w") as users:
            users.write(f'"{user}" ""\n')
        with open(os.path.join(self.dir, "pgbouncer.ini"), "w") as ini:
            ini.write(f"""[databases]
* = host={server.get('host', '127.0.0.1')} port={server.get('port', 5432)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 2000
server_reset_query =
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
""")
        command = [self.executable, os.path.join(self.dir, "pgbouncer.ini")]
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            for name in os.listdir(self.dir):
                os.chown(os.path.join(self.dir, name), owner.pw_uid, owner.pw_gid)
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._accepting, timeout=15, message="pgbouncer accepting connections")

    def _accepting(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {self.log()[-2000:]}")
        try:
            with psycopg.connect(self.url, connect_timeout=1, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def log(self):
        try:
            with open(os.path.join(self.dir, "pgbouncer.log")) as handle:
                return handle.read()
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
