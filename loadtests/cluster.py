"""A local cluster on loopback: PostgreSQL, demo backends, N engine instances and nginx in front.

    python -m loadtests.cluster up --instances 3      # prints the balancer's URL and a token
    python -m loadtests.cluster status
    python -m loadtests.cluster down                  # stops exactly what `up` started

nginx comes from the system's packages (installed with apt-get when missing and running as root).
It is set up for streaming: proxy_buffering off, HTTP/1.1 keep-alive to the upstreams, round robin
with no affinity, and passive health checks (max_fails/fail_timeout).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psycopg
import requests

from launch.embedded_postgres import EmbeddedPostgres, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE_DIR = os.path.join(ROOT, "loadtests", ".cluster")
STATE_FILE = os.path.join(STATE_DIR, "state.json")
JWT_SECRET = "load-test-secret-long-enough-for-hmac-sha256"
HEALTHY_TYPE = "gts.hyperspot.chat_engine.session_types.load_demo.v1~"
FAILING_TYPE = "gts.hyperspot.chat_engine.session_types.load_failing.v1~"

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 20000; }}
worker_rlimit_nofile 50000;
http {{
    access_log off;
    log_format timeline escape=json
        '{{"t":$msec,"up":"$upstream_addr","us":"$upstream_status","s":$status,"m":"$request_method","u":"$uri"}}';
    upstream engines {{
{servers}
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=8192;
        access_log {dir}/access.log timeline buffer=64k flush=1s;
        location / {{
            proxy_pass http://engines;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-Id $request_id;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 310s;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


def ensure_nginx():
    found = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("nginx is missing: install it (apt-get install nginx) and retry")
    print("installing nginx from the system's packages…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True, env=env, capture_output=True)
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _wait(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready")


def _spawn(args, log_name, env=None):
    log = open(os.path.join(STATE_DIR, log_name), "ab")
    return subprocess.Popen(args, cwd=ROOT, env=env or os.environ, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


class Cluster:
    """Everything `up` starts, recorded in loadtests/.cluster/state.json for `down`."""

    def __init__(self, state):
        self.state = state
        self._children = {}  # pid -> Popen, for processes this Python process started (reaped by poll)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.state['balancer_port']}"

    @property
    def database_url(self):
        return self.state["database_url"]

    @classmethod
    def up(cls, instances=3, workers=None, balancer_port=None, backend_delay=0.02, db_pool=10, failing_backend=None,
           backend_module="demo_backend", statement_stats=False):
        """workers=None: gunicorn.conf.py's default, one per core. statement_stats: the embedded PostgreSQL
        loads pg_stat_statements (nested statements too), for benchmarks that say which statement costs what."""
        if os.path.exists(STATE_FILE):
            raise SystemExit("a cluster is already up (python -m loadtests.cluster down)")
        os.makedirs(STATE_DIR, exist_ok=True)
        nginx = ensure_nginx()
        # The balancer's port comes first: instances hand out links to it (PUBLIC_BASE_URL).
        state = {"pids": {}, "instances": [], "workers": workers, "db_pool": db_pool,
                 "balancer_port": balancer_port or free_port()}
        cluster = cls(state)
        try:
            database_url = os.environ.get("DATABASE_URL")
            if not database_url:
                postgres = EmbeddedPostgres(data_dir=os.path.join(STATE_DIR, "pgdata"))
                postgres.start()
                state["embedded_postgres"] = {"data_dir": postgres.data_dir, "port": postgres.port}
                database_url = postgres.url
                with psycopg.connect(database_url, autocommit=True) as conn:
                    conn.execute("ALTER SYSTEM SET max_connections = 500")
                    if statement_stats:
                        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
                postgres.stop()
                postgres.start()
                if statement_stats:
                    with psycopg.connect(database_url, autocommit=True) as conn:
                        conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
                        conn.execute("SELECT pg_reload_conf()")
                        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            state["database_url"] = database_url
            cluster._save()
            cluster._flask("db", "upgrade")

            backend_port = free_port()
            state["pids"]["demo_backend"] = cluster._track(_spawn(
                [sys.executable, "-m", backend_module, "--port", str(backend_port), "--delay", str(backend_delay)],
                "demo_backend.log"))
            state["backend_url"] = f"http://127.0.0.1:{backend_port}/"
            cluster._flask("session-type", "create", "--id", HEALTHY_TYPE, "--name", "load_demo", "--replace",
                           "--webhook-url", state["backend_url"])
            if failing_backend:
                failing_port = free_port()
                state["pids"]["failing_backend"] = cluster._track(_spawn(
                    [sys.executable, "-m", "demo_backend", "--port", str(failing_port), "--mode", failing_backend],
                    "failing_backend.log"))
                cluster._flask("session-type", "create", "--id", FAILING_TYPE, "--name", "load_failing", "--replace",
                               "--webhook-url", f"http://127.0.0.1:{failing_port}/", "--timeout", "5")

            for index in range(instances):
                port = free_port()
                state["instances"].append(port)
                cluster._start_instance(index)
            for port in state["instances"]:
                _wait(f"http://127.0.0.1:{port}/health/ready")

            servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"
                                for p in state["instances"])
            with open(os.path.join(STATE_DIR, "nginx.conf"), "w") as handle:
                handle.write(NGINX_CONF.format(dir=STATE_DIR, servers=servers, port=state["balancer_port"]))
            state["pids"]["nginx"] = cluster._track(_spawn(
                [nginx, "-p", STATE_DIR, "-c", os.path.join(STATE_DIR, "nginx.conf"), "-g", "daemon off;"],
                "nginx.log"))
            cluster._save()
            _wait(cluster.url + "/health/ready")
            return cluster
        except BaseException:
            cluster.down()
            raise

    def _env(self):
        return {**os.environ, "DATABASE_URL": self.database_url, "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING",
                "PUBLIC_BASE_URL": self.url}

    def _flask(self, *args):
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self._env(),
                       check=True, capture_output=True)

    def _start_instance(self, index):
        port = self.state["instances"][index]
        env = {**self._env(), "BIND": f"127.0.0.1:{port}",
               "DB_POOL_MAX_SIZE": str(self.state["db_pool"]), "WORKER_CONNECTIONS": "10000",
               "MAX_STREAMS_PER_WORKER": "5000", "PROMETHEUS_MULTIPROC_DIR": os.path.join(STATE_DIR, f"metrics-{port}")}
        if self.state["workers"]:
            env["WEB_CONCURRENCY"] = str(self.state["workers"])
        process = _spawn([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                         f"engine-{port}.log", env)
        self.state["pids"][f"engine-{port}"] = self._track(process)
        self._save()
        return process

    def _track(self, process):
        self._children[process.pid] = process
        return process.pid

    def _alive(self, pid):
        if pid in self._children:
            return self._children[pid].poll() is None
        try:
            os.killpg(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill_instance(self, index):
        """SIGKILL an instance's whole process group (master and workers): a crash, not a shutdown."""
        port = self.state["instances"][index]
        pid = self.state["pids"].pop(f"engine-{port}")
        os.killpg(pid, signal.SIGKILL)
        if pid in self._children:
            self._children.pop(pid).wait()
        self._save()
        return port

    def restart_instance(self, index):
        self._start_instance(index)
        _wait(f"http://127.0.0.1:{self.state['instances'][index]}/health/ready")

    def instance_urls(self):
        return [f"http://127.0.0.1:{port}" for port in self.state["instances"]]

    def _save(self):
        with open(STATE_FILE, "w") as handle:
            json.dump(self.state, handle, indent=2)

    @classmethod
    def load(cls):
        if not os.path.exists(STATE_FILE):
            return None
        with open(STATE_FILE) as handle:
            return cls(json.load(handle))

    def down(self):
        for pid in list(self.state["pids"].values()):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for pid in list(self.state["pids"].values()):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self._alive(pid):
                time.sleep(0.1)
            if self._alive(pid):
                os.killpg(pid, signal.SIGKILL)
        embedded = self.state.get("embedded_postgres")
        if embedded:
            server = EmbeddedPostgres(data_dir=embedded["data_dir"], port=embedded["port"])
            server.destroy()
        shutil.rmtree(STATE_DIR, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--instances", type=int, default=3)
    up.add_argument("--workers", type=int, default=None,
                    help="gunicorn workers per instance (default: one per core, as in production)")
    up.add_argument("--port", type=int, default=None, help="balancer port (default: a free one)")
    up.add_argument("--backend-delay", type=float, default=0.02)
    sub.add_parser("down")
    sub.add_parser("status")
    args = parser.parse_args()
    if args.command == "up":
        cluster = Cluster.up(args.instances, args.workers, args.port, args.backend_delay)
        import jwt

        token = jwt.encode({"sub": "cluster-user", "exp": int(time.time()) + 86400}, JWT_SECRET, algorithm="HS256")
        print(f"balancer: {cluster.url}\ninstances: {', '.join(cluster.instance_urls())}\n"
              f"session type: {HEALTHY_TYPE}\nTOKEN={token}")
    elif args.command == "down":
        cluster = Cluster.load()
        if cluster is None:
            print("no cluster is up")
            return
        cluster.down()
        print("stopped")
    else:
        cluster = Cluster.load()
        print(json.dumps(cluster.state, indent=2) if cluster else "no cluster is up")


if __name__ == "__main__":
    main()
