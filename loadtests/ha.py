"""PostgreSQL with automatic failover on loopback, run by pg_auto_failover.

    python -m loadtests.ha up [--state-dir DIR]       # monitor, primary, synchronous standby; prints DATABASE_URL
    python -m loadtests.ha status                     # the monitor's view of the nodes, and the URL
    python -m loadtests.ha failover                   # SIGKILL the primary's node: its pg_autoctl and its postgres
    python -m loadtests.ha failover --postgres-only   # SIGKILL only its postgres (its keeper restarts it: no failover)
    python -m loadtests.ha failover --freeze          # SIGSTOP it instead: its connections hang, unanswered
    python -m loadtests.ha failover --planned         # pg_autoctl perform failover (a switchover)
    python -m loadtests.ha rejoin                     # restart a killed node: it rejoins as the standby
    python -m loadtests.ha down                       # stops exactly what `up` started and removes DIR

The orchestrator is not home-made: Debian's `postgresql-15-auto-failover` (the monitor's extension) and
`pg-auto-failover-cli` (`pg_autoctl`), installed with apt-get when missing and running as root
(`ensure_installed`). Three PostgreSQL servers run, each under its own `pg_autoctl run`: the monitor
(it health-checks the nodes and drives their state machine), a primary and a standby. The standby has
replication quorum, so the primary runs with `synchronous_standby_names = 'ANY 1 (<standby>)'` and a
commit returns only once the standby has it: a commit a client saw is never lost by a failover.
(pg_auto_failover's formation setting `number_sync_standbys` stays 0, its only valid value with a
single standby: it counts the standbys that must stay *beyond* the first one for writes to go on;
`up` checks that replication is synchronous.)

The monitor's failure detection is tuned from its defaults (5 s between checks, 20 s without a report
before a node is unhealthy, 30 s waiting for a silent primary to demote) to a few seconds: see
MONITOR_SETTINGS. On a machine or network that stalls for seconds this would fail over needlessly;
production keeps the defaults or sets its own, knowingly.

Everything listens on 127.0.0.1 at ports chosen free at run time. Data, logs and pg_autoctl's own files
(its XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_RUNTIME_DIR) live under the state directory (default
.run/ha). Authentication is `trust` and TLS is off (`--no-ssl`): loopback only. Across machines, use
`--ssl-self-signed` or real certificates and a password or certificate method instead.
PostgreSQL refuses to run as root, so under root everything runs as the `postgres` system user
(created by Debian's PostgreSQL packages), as launch/embedded_postgres.py does.

The engine uses the URL `up` prints: both nodes, `target_session_attrs=read-write`, so libpq connects
to whichever one currently accepts writes (`pg_autoctl show uri --formation default` on the monitor).
"""
import argparse
import fcntl
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psycopg

from launch.embedded_postgres import SERVER_USER, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_STATE_DIR = os.path.join(ROOT, ".run", "ha")
DBNAME = "chat"
FORMATION = "default"
NODE_NAMES = ("node1", "node2")
APT_LOCK = os.path.join(tempfile.gettempdir(), "chat-engine-apt.lock")
DEFAULT_MAJOR = "15"  # Debian 12's PostgreSQL, the one postgresql-15-auto-failover is built for

# Monitor settings (GUCs of the monitor's PostgreSQL, in its postgresql.auto.conf). A node is failed
# over when its health checks fail AND its keeper has not reported for node_considered_unhealthy_timeout;
# the standby is then promoted once the silent primary had primary_demote_timeout to demote itself.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": 1000,          # ms between health checks (default 5000)
    "pgautofailover.health_check_timeout": 1000,         # connect timeout of one check (default 5000)
    "pgautofailover.health_check_max_retries": 1,        # (default 2)
    "pgautofailover.health_check_retry_delay": 200,      # ms (default 2000)
    "pgautofailover.node_considered_unhealthy_timeout": 2000,  # ms without a keeper report (default 20000)
    "pgautofailover.primary_demote_timeout": 2000,       # ms a silent primary gets to demote (default 30000)
    "pgautofailover.startup_grace_period": 2000,         # ms after the monitor starts (default 10000)
    "shared_buffers": "'32MB'",
}
# pg_autoctl sizes shared_buffers to a quarter of the machine's memory: too much for three servers on
# a shared test machine. postgresql.auto.conf is read last, so these win.
NODE_SETTINGS = {"shared_buffers": "'128MB'", "max_connections": 300}
UNSAFE_SETTINGS = {"fsync": "off"}  # throwaway test clusters only; synchronous_commit stays on

PRIMARY_STATES = ("single", "wait_primary", "primary")


class HaUnavailable(RuntimeError):
    """pg_auto_failover is missing and cannot be installed here (not root, no apt-get, mirror unreachable)."""


# -- installation ------------------------------------------------------------------------------------

def find_tools():
    """(pg_autoctl, pg_ctl) when pg_auto_failover is installed for some PostgreSQL server, else None."""
    autoctl = shutil.which("pg_autoctl") or ("/usr/bin/pg_autoctl" if os.access("/usr/bin/pg_autoctl", os.X_OK)
                                              else None)
    if autoctl is None:
        return None
    libraries = sorted(glob.glob("/usr/lib/postgresql/*/lib/pgautofailover.so"),
                       key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0, reverse=True)
    for library in libraries:
        pg_ctl = os.path.join(os.path.dirname(os.path.dirname(library)), "bin", "pg_ctl")
        if os.access(pg_ctl, os.X_OK):
            return autoctl, pg_ctl
    return None


def _apt(*args):
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", *args], env=env, capture_output=True,
                          text=True)


_UNREACHABLE = ("Failed to fetch", "Unable to fetch", "Could not resolve", "Temporary failure resolving",
                "Could not connect", "Connection failed", "Network is unreachable")


def _major():
    """The installed server's major version (the newest), or Debian 12's when none is installed."""
    majors = [p.split("/")[4] for p in glob.glob("/usr/lib/postgresql/*/bin/postgres") if p.split("/")[4].isdigit()]
    return max(majors, key=int) if majors else DEFAULT_MAJOR


def ensure_installed(say=print):
    """(pg_autoctl, pg_ctl), installing Debian's packages with apt-get when they are missing.

    Raises HaUnavailable when they cannot be installed here: not root, no apt-get, or the package
    mirror unreachable. Any other apt failure is an error. A file lock keeps concurrent callers (test
    runs of other checkouts) from racing; dpkg's own lock is waited for, not failed on."""
    found = find_tools()
    if found:
        return found
    packages = [f"postgresql-{_major()}-auto-failover", "pg-auto-failover-cli"]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise HaUnavailable(f"pg_auto_failover is not installed and this is not root with apt-get: "
                            f"apt-get install -y {' '.join(packages)}")
    with open(APT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_tools()
        if found:
            return found
        say(f"installing {' '.join(packages)} from the system's packages…")
        result = _apt("install", "-y", "-q", *packages)
        if result.returncode != 0:  # a stale package index: refresh it once
            update = _apt("update", "-q")
            result = _apt("install", "-y", "-q", *packages)
            if result.returncode != 0:
                output = update.stdout + update.stderr + result.stdout + result.stderr
                tail = output.strip()[-1500:]
                if any(marker in output for marker in _UNREACHABLE):
                    raise HaUnavailable(f"apt cannot reach its package mirror to install {' '.join(packages)}: {tail}")
                raise RuntimeError(f"apt-get install {' '.join(packages)} failed: {tail}")
    found = find_tools()
    if not found:
        raise RuntimeError(f"{' '.join(packages)} installed, but pg_autoctl or pgautofailover.so is not found")
    return found


# -- processes ---------------------------------------------------------------------------------------

def _children_table():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    return children


def process_tree(root):
    """root and all its descendants. PostgreSQL's backends are in sessions of their own, so a process
    group would miss them; the parent links do not."""
    children, found, todo = _children_table(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid, marker):
    """Is pid running and still the process we started (its command line names `marker`)?"""
    return _running(pid) and marker in _cmdline(pid)


def _running(pid):
    """Exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_tree(root, sig=signal.SIGKILL):
    pids = process_tree(root)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def _wait(predicate, timeout, what, interval=0.05):
    """Poll a condition (never a fixed sleep as synchronization); return its value or raise."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (psycopg.Error, OSError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                               + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


# -- the cluster -------------------------------------------------------------------------------------

class HaCluster:
    """A pg_auto_failover monitor and two nodes; state in <state dir>/state.json for the CLI."""

    def __init__(self, state):
        self.state = state
        self.dir = state["dir"]
        self._popen = {}  # name -> Popen, for processes this Python process started (reaped on kill)
        self._user = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam(SERVER_USER)

    # -- paths, URLs ---------------------------------------------------------------------------------

    @property
    def state_file(self):
        return os.path.join(self.dir, "state.json")

    def _path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def monitor_url(self):
        return f"postgresql://autoctl_node@127.0.0.1:{self.state['monitor']['port']}/pg_auto_failover"

    @property
    def database_url(self):
        """The URL the engine uses: every node, and libpq picks the one that accepts writes."""
        return self.state["database_url"]

    def _url_for(self, dbname):
        hosts = ",".join(f"127.0.0.1:{self.state['nodes'][name]['port']}" for name in NODE_NAMES)
        return f"postgresql://{self.state['user']}@{hosts}/{dbname}?target_session_attrs=read-write"

    def node_url(self, name, dbname=DBNAME):
        """One node, whatever its role (for reads on a standby or checks on a given node)."""
        return f"postgresql://{self.state['user']}@127.0.0.1:{self.state['nodes'][name]['port']}/{dbname}"

    # -- running pg_autoctl --------------------------------------------------------------------------

    def _command(self, *args):
        env = [f"XDG_CONFIG_HOME={self._path('xdg', 'config')}", f"XDG_DATA_HOME={self._path('xdg', 'share')}",
               f"XDG_RUNTIME_DIR={self._path('xdg', 'run')}"]
        command = ["env", *env, self.state["pg_autoctl"], *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user.pw_name, "--", *command]
        return command

    def _autoctl(self, *args, timeout=180, log_name=None):
        result = subprocess.run(self._command(*args), capture_output=True, text=True, cwd="/", timeout=timeout)
        if log_name:
            with open(self._path("logs", log_name), "a") as handle:
                handle.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"pg_autoctl {' '.join(args[:2])} failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-3000:]}")
        return result.stdout

    def _start_service(self, name, pgdata):
        """`pg_autoctl run` for one server, in a session of its own, logging to logs/<name>.log."""
        log = open(self._path("logs", f"{name}.log"), "ab")
        process = subprocess.Popen(self._command("run", "--pgdata", pgdata), cwd="/", stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._popen[name] = process
        entry = self.state["monitor"] if name == "monitor" else self.state["nodes"][name]
        entry["pid"] = process.pid
        self._save()
        return process

    def _append_settings(self, pgdata, settings):
        """Into postgresql.auto.conf while the server is stopped (read last: these win)."""
        with open(os.path.join(pgdata, "postgresql.auto.conf"), "a") as handle:
            handle.write("# chat-engine loadtests/ha.py\n")
            for key, value in settings.items():
                handle.write(f"{key} = {value}\n")

    def _prepare_dirs(self):
        for sub in ("logs", "xdg/config", "xdg/share", "xdg/run"):
            os.makedirs(self._path(sub), exist_ok=True)
        if self._user is None:
            return
        if not os.path.isdir("/var/run/postgresql"):  # the server's default socket directory (Debian)
            os.makedirs("/var/run/postgresql", mode=0o2775)
            os.chown("/var/run/postgresql", self._user.pw_uid, self._user.pw_gid)
        for top, dirs, files in os.walk(self.dir):
            for name in [top, *(os.path.join(top, d) for d in dirs), *(os.path.join(top, f) for f in files)]:
                os.chown(name, self._user.pw_uid, self._user.pw_gid)
        os.chmod(self.dir, 0o700)
        parent = os.path.dirname(os.path.abspath(self.dir))  # the server user must reach it
        while parent != "/":
            mode = os.stat(parent).st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
            parent = os.path.dirname(parent)

    def _save(self):
        with open(self.state_file, "w") as handle:
            json.dump(self.state, handle, indent=2)

    # -- up / down -----------------------------------------------------------------------------------

    @classmethod
    def up(cls, state_dir=None, fast_unsafe=False, say=print, timeout=180):
        """Monitor, primary and synchronous standby, running and healthy. `fast_unsafe`: fsync off
        (tests only). Stops whatever it started if any step fails."""
        autoctl, pg_ctl = ensure_installed(say)
        state_dir = os.path.abspath(state_dir or DEFAULT_STATE_DIR)
        if os.path.exists(os.path.join(state_dir, "state.json")):
            raise RuntimeError(f"an HA cluster is already up in {state_dir} (python -m loadtests.ha down)")
        os.makedirs(state_dir, exist_ok=True)
        user = SERVER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        state = {"dir": state_dir, "pg_autoctl": autoctl, "pg_ctl": pg_ctl, "user": user, "dbname": DBNAME,
                 "fast_unsafe": fast_unsafe, "monitor_settings": MONITOR_SETTINGS,
                 "monitor": {"port": free_port(), "pgdata": os.path.join(state_dir, "monitor")},
                 "nodes": {name: {"port": free_port(), "pgdata": os.path.join(state_dir, name)}
                           for name in NODE_NAMES}}
        cluster = cls(state)
        cluster._prepare_dirs()
        cluster._save()
        started = time.monotonic()
        try:
            cluster._create_monitor(fast_unsafe)
            node_settings = {**NODE_SETTINGS, **(UNSAFE_SETTINGS if fast_unsafe else {})}
            for name in NODE_NAMES:  # the first registers as the primary, the second as its standby
                cluster._create_node(name, node_settings)
            cluster.wait_healthy(timeout)
            uri = cluster._autoctl("show", "uri", "--formation", FORMATION, "--pgdata",
                                   state["monitor"]["pgdata"]).strip()
            state["monitor_uri"] = uri
            # postgres://h1:p1,h2:p2/chat?target_session_attrs=read-write&sslmode=prefer, with our user
            state["database_url"] = uri.replace("postgres://", f"postgresql://{user}@", 1)
            state["up_seconds"] = round(time.monotonic() - started, 1)
            cluster._save()
            return cluster
        except BaseException:
            cluster.down()
            raise

    def _create_monitor(self, fast_unsafe):
        monitor = self.state["monitor"]
        self._autoctl("create", "monitor", "--pgctl", self.state["pg_ctl"], "--pgdata", monitor["pgdata"],
                      "--pgport", str(monitor["port"]), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
                      "--auth", "trust", "--no-ssl", log_name="monitor-create.log")
        self._append_settings(monitor["pgdata"], {**MONITOR_SETTINGS, **(UNSAFE_SETTINGS if fast_unsafe else {})})
        self._start_service("monitor", monitor["pgdata"])
        _wait(lambda: self._monitor_query("SELECT count(*) AS n FROM pgautofailover.formation") is not None,
              60, "the monitor to accept connections")

    def _create_node(self, name, settings):
        node = self.state["nodes"][name]
        self._autoctl("create", "postgres", "--pgctl", self.state["pg_ctl"], "--pgdata", node["pgdata"],
                      "--pgport", str(node["port"]), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
                      "--name", name, "--dbname", DBNAME, "--formation", FORMATION, "--monitor",
                      f"postgres://autoctl_node@127.0.0.1:{self.state['monitor']['port']}/pg_auto_failover"
                      "?sslmode=prefer", "--auth", "trust", "--no-ssl", log_name=f"{name}-create.log")
        self._append_settings(node["pgdata"], settings)
        self._start_service(name, node["pgdata"])
        _wait(lambda: self._accepting(name), 60, f"{name} to accept connections")

    def _accepting(self, name):
        with psycopg.connect(self.node_url(name, "postgres"), connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True

    @classmethod
    def load(cls, state_dir=None):
        path = os.path.join(os.path.abspath(state_dir or DEFAULT_STATE_DIR), "state.json")
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return cls(json.load(handle))

    def _services(self):
        yield "monitor", self.state["monitor"]
        yield from self.state["nodes"].items()

    def down(self):
        """Stop every pg_autoctl service (each stops its PostgreSQL), SIGKILL what is left, remove the dir."""
        services = list(self._services())
        for _name, entry in services:
            pid = entry.get("pid")
            if pid and _alive(pid, entry["pgdata"]):
                for sig in (signal.SIGTERM, signal.SIGCONT):  # SIGCONT: a frozen node acts on its SIGTERM
                    try:
                        os.killpg(pid, sig)
                    except ProcessLookupError:
                        pass
        for name, entry in services:
            pid, pgdata = entry.get("pid"), entry["pgdata"]
            if not pid:
                continue
            try:
                _wait(lambda pid=pid, pgdata=pgdata: not _alive(pid, pgdata), 30, f"{name} to stop")
            except TimeoutError:
                _kill_tree(pid)
            if name in self._popen:
                self._popen.pop(name).wait()
        for _name, entry in services:  # a postmaster whose keeper died first
            postmaster = self._postmaster_pid(entry["pgdata"])
            if postmaster and _alive(postmaster, entry["pgdata"]):
                _kill_tree(postmaster)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _postmaster_pid(pgdata):
        try:
            with open(os.path.join(pgdata, "postmaster.pid")) as handle:
                return int(handle.readline().strip())
        except (OSError, ValueError):
            return None

    # -- the monitor's view --------------------------------------------------------------------------

    def _monitor_query(self, sql, params=None):
        with psycopg.connect(self.monitor_url, connect_timeout=3, autocommit=True,
                             row_factory=psycopg.rows.dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    def nodes(self):
        """The monitor's rows: name, port, reported and assigned (goal) state, health, last report."""
        return self._monitor_query(
            "SELECT nodeid, nodename AS name, nodeport AS port, reportedstate, goalstate, health, "
            "reportedpgisrunning AS pg_running, reporttime, reportedlsn::text AS lsn "
            "FROM pgautofailover.node ORDER BY nodeid")

    def primary(self):
        """The name of the node the monitor has as primary (reported and assigned), or None."""
        for node in self.nodes():
            if node["reportedstate"] in PRIMARY_STATES and node["goalstate"] == node["reportedstate"]:
                return node["name"]
        return None

    def _name_of_port(self, port):
        return next(name for name, node in self.state["nodes"].items() if node["port"] == int(port))

    def wait_healthy(self, timeout=120):
        """Until one node is `primary` and the other `secondary` (both reported and assigned), and the
        primary replicates synchronously. Returns the primary's name."""
        def healthy():
            states = {(n["reportedstate"], n["goalstate"]) for n in self.nodes()}
            if states != {("primary", "primary"), ("secondary", "secondary")}:
                return None
            name = self.primary()
            with psycopg.connect(self.node_url(name, "postgres"), connect_timeout=2, autocommit=True) as conn:
                standby_names = conn.execute("SHOW synchronous_standby_names").fetchone()[0]
            return name if standby_names.strip() else None
        return _wait(healthy, timeout, "a primary and a synchronous standby", interval=0.2)

    def synchronous_standby_names(self):
        with psycopg.connect(self._url_for("postgres"), connect_timeout=2, autocommit=True) as conn:
            return conn.execute("SHOW synchronous_standby_names").fetchone()[0]

    # -- writes, kills, failover -------------------------------------------------------------------------

    def write_probe(self):
        """One write through the read-write URL (database `postgres`, table ha_probe): the name of the
        node that took it. Raises psycopg.Error while no node accepts writes."""
        with psycopg.connect(self._url_for("postgres"), connect_timeout=2, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ha_probe (at timestamptz NOT NULL DEFAULT clock_timestamp())")
            conn.execute("INSERT INTO ha_probe DEFAULT VALUES")
            return self._name_of_port(conn.info.port)

    def wait_writable(self, not_on=None, timeout=60):
        """Until a write commits on a node other than `not_on`: (node name, time.monotonic() then)."""
        def attempt():
            name = self.write_probe()
            return (name, time.monotonic()) if name != not_on else None
        return _wait(attempt, timeout, "a node that accepts writes", interval=0.02)

    def kill_node(self, name):
        """SIGKILL a node's pg_autoctl service, its PostgreSQL and every backend at once: the machine
        is gone, nothing gets to say goodbye."""
        entry = self.state["nodes"][name]
        pid = entry.get("pid")
        if not pid or not _alive(pid, entry["pgdata"]):
            raise RuntimeError(f"{name}'s pg_autoctl is not running")
        postmaster = self._postmaster_pid(entry["pgdata"])
        pids = process_tree(pid) + (process_tree(postmaster) if postmaster else [])
        for each in pids:
            try:
                os.kill(each, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if name in self._popen:
            self._popen.pop(name).wait()
        _wait(lambda: not any(_running(each) for each in pids), 30, f"{name}'s processes to die")
        # A pg_autoctl started next refuses to run while its pidfile names a process that exists, and a
        # zombie does until something reaps it.
        for pidfile in glob.glob(self._path("xdg", "run", "pg_autoctl", "**", "pg_autoctl.pid"), recursive=True):
            if os.path.dirname(pidfile).endswith(entry["pgdata"]):
                os.unlink(pidfile)
        entry["pid"] = None
        self._save()
        return len(set(pids))

    def freeze_node(self, name):
        """SIGSTOP a node's pg_autoctl, PostgreSQL and backends: a machine that hangs, or a network that
        drops its packets. Its sockets stay open and silent: clients wait for answers that never come
        (no reset, as with a kill). `rejoin` (or `down`) kills it."""
        entry = self.state["nodes"][name]
        postmaster = self._postmaster_pid(entry["pgdata"])
        pids = process_tree(entry["pid"]) + (process_tree(postmaster) if postmaster else [])
        for each in pids:
            try:
                os.kill(each, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        entry["frozen"] = True
        self._save()
        return len(set(pids))

    def kill_postgres(self, name):
        """SIGKILL only the node's postmaster and its backends; its pg_autoctl keeper lives on."""
        postmaster = self._postmaster_pid(self.state["nodes"][name]["pgdata"])
        if not postmaster:
            raise RuntimeError(f"{name}'s PostgreSQL is not running")
        return len(_kill_tree(postmaster))

    def _event_time(self, sql, params):
        rows = self._monitor_query(sql, params)
        value = rows[0]["t"] if rows else None
        return value.timestamp() if value is not None else None

    def failover(self, mode="node", timeout=90):
        """Make the primary go away and wait until a node accepts writes again.

        mode "node": SIGKILL the primary's node (kill_node): the monitor detects it and promotes the
        standby. "freeze": SIGSTOP it instead (freeze_node): the same, but its connections hang instead
        of breaking. "postgres": SIGKILL only its PostgreSQL (kill_postgres): its keeper restarts it,
        the same node stays primary (no failover). "planned": `pg_autoctl perform failover`.
        It first waits for a healthy formation (a standby in `secondary` state is what gets promoted).
        Returns what happened with seconds from the kill (the command, for planned): `detected_s` (the
        monitor marks the old primary unhealthy), `promoted_s` (the new primary reports wait_primary,
        writes accepted without a standby), `writable_s` (a probe write commits through the
        read-write URL), and `writable_at`, the time.monotonic() of that write."""
        if mode not in ("node", "freeze", "postgres", "planned"):
            raise ValueError(mode)
        old = self.wait_healthy(timeout)
        old_id = next(n["nodeid"] for n in self.nodes() if n["name"] == old)
        killed_wall, killed = time.time(), time.monotonic()
        command = None
        if mode == "node":
            self.kill_node(old)
        elif mode == "freeze":
            self.freeze_node(old)
        elif mode == "postgres":
            self.kill_postgres(old)
        else:  # it returns once the old primary is a standby again: writes come back before that
            log = open(self._path("logs", "failover.log"), "ab")
            command = subprocess.Popen(self._command("perform", "failover", "--formation", FORMATION, "--pgdata",
                                                     self.state["monitor"]["pgdata"]),
                                       cwd="/", stdout=log, stderr=subprocess.STDOUT)
            log.close()
        new, writable_at = self.wait_writable(not_on=None if mode == "postgres" else old, timeout=timeout)
        if command is not None and command.wait(timeout=timeout) != 0:
            raise RuntimeError(f"pg_autoctl perform failover failed: see {self._path('logs', 'failover.log')}")
        since = "eventtime >= to_timestamp(%(t)s)"
        detected = self._event_time(
            f"SELECT min(eventtime) AS t FROM pgautofailover.event WHERE {since} AND nodeid = %(id)s "
            "AND description LIKE '%%marked as unhealthy%%'", {"t": killed_wall, "id": old_id})
        promoted = None
        if new != old:  # the keeper promotes, then reports: the event may trail the first write a little
            promoted = _wait(lambda: self._event_time(
                f"SELECT min(eventtime) AS t FROM pgautofailover.event WHERE {since} AND nodename = %(name)s "
                "AND reportedstate IN ('wait_primary', 'primary', 'single') AND goalstate = reportedstate",
                {"t": killed_wall, "name": new}), 15, f"{new}'s promotion in the monitor's events")

        def since_kill(wall):
            return round(wall - killed_wall, 3) if wall is not None else None
        return {"mode": mode, "old_primary": old, "new_primary": new, "killed_at": killed_wall,
                "detected_s": since_kill(detected), "promoted_s": since_kill(promoted),
                "writable_s": round(writable_at - killed, 3), "writable_at": writable_at}

    def rejoin(self, timeout=120):
        """Restart every node whose pg_autoctl is gone (it rejoins as the standby, pg_rewind if needed)
        and wait until the formation is healthy again. Returns the names restarted."""
        restarted = []
        for name, entry in self.state["nodes"].items():
            if entry.get("frozen"):
                self.kill_node(name)
                entry["frozen"] = False
            if not entry.get("pid") or not _alive(entry["pid"], entry["pgdata"]):
                self._popen.pop(name, None)
                self._start_service(name, entry["pgdata"])
                restarted.append(name)
        self.wait_healthy(timeout)
        return restarted

    def status(self):
        rows = []
        for node in self.nodes():
            entry = self.state["nodes"].get(node["name"], {})
            running = bool(entry.get("pid")) and _alive(entry["pid"], entry.get("pgdata", "?"))
            rows.append({**{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in node.items()},
                         "pg_autoctl_running": running})
        return {"database_url": self.database_url, "monitor": self.monitor_url, "nodes": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=None, help=f"default: {os.path.relpath(DEFAULT_STATE_DIR)}")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--fast-unsafe", action="store_true", help="fsync off (throwaway clusters only)")
    sub.add_parser("down")
    sub.add_parser("status")
    failover = sub.add_parser("failover")
    kind = failover.add_mutually_exclusive_group()
    kind.add_argument("--postgres-only", action="store_true",
                      help="SIGKILL only the primary's postgres (its keeper restarts it)")
    kind.add_argument("--planned", action="store_true", help="pg_autoctl perform failover")
    kind.add_argument("--freeze", action="store_true",
                      help="SIGSTOP the primary's node instead of killing it (its connections hang)")
    sub.add_parser("rejoin")
    args = parser.parse_args()

    if args.command == "up":
        cluster = HaCluster.up(args.state_dir, fast_unsafe=args.fast_unsafe)
        print(f"up in {cluster.state['up_seconds']} s: monitor on 127.0.0.1:{cluster.state['monitor']['port']}, "
              f"primary {cluster.primary()}, synchronous_standby_names = {cluster.synchronous_standby_names()!r}")
        print(f"DATABASE_URL={cluster.database_url}")
        return
    cluster = HaCluster.load(args.state_dir)
    if cluster is None:
        sys.exit("no HA cluster is up (python -m loadtests.ha up)")
    if args.command == "down":
        cluster.down()
        print("stopped")
    elif args.command == "status":
        print(json.dumps(cluster.status(), indent=2, default=str))
    elif args.command == "failover":
        mode = ("postgres" if args.postgres_only else "planned" if args.planned else "freeze" if args.freeze
                else "node")
        result = cluster.failover(mode)
        result.pop("writable_at")
        print(json.dumps(result, indent=2))
        if mode in ("node", "freeze"):
            print(f"{result['old_primary']} is gone; `python -m loadtests.ha rejoin` brings it back as the standby")
    elif args.command == "rejoin":
        restarted = cluster.rejoin()
        print(f"restarted: {', '.join(restarted) or 'nothing'}; primary: {cluster.primary()}")


if __name__ == "__main__":
    main()
