"""`python -m launch`: the whole service on this machine, for trying it out.

PostgreSQL (embedded in .run/pgdata unless DATABASE_URL is set), migrations, the demo backend, a demo
session type, and gunicorn. Prints a token and a curl line; Ctrl-C stops everything it started.
"""
import os
import secrets
import signal
import subprocess
import sys
import time

import requests

from launch.embedded_postgres import EmbeddedPostgres, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DIR = os.environ.get("CHAT_ENGINE_RUN_DIR") or os.path.join(ROOT, ".run")
DEMO_TYPE = "gts.hyperspot.chat_engine.session_types.demo.v1~"


def _persistent_secret(name, prefix=""):
    path = os.path.join(RUN_DIR, name)
    if not os.path.exists(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            handle.write(prefix + secrets.token_urlsafe(48))
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def _flask(env, *args):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True).stdout.strip()


def _wait_http(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[2] if len(process.args) > 2 else process.args} exited early")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _stop(signum, frame):
    raise KeyboardInterrupt


def main():
    # Explicit handlers: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    os.makedirs(RUN_DIR, exist_ok=True)
    env = dict(os.environ)
    children, postgres = [], None
    try:
        if not env.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(data_dir=os.path.join(RUN_DIR, "pgdata")).start()
            env["DATABASE_URL"] = postgres.url
            print(f"embedded PostgreSQL on 127.0.0.1:{postgres.port} (data in {postgres.data_dir})", flush=True)
        env.setdefault("JWT_SECRET", _persistent_secret("jwt_secret"))
        # A try-it-out setup: development mode accepts a weak JWT_SECRET given in the environment
        # (with a loud warning in the engine's log). The generated secrets are strong regardless.
        env.setdefault("CHAT_ENGINE_DEV_MODE", "1")
        if env["CHAT_ENGINE_DEV_MODE"].lower() not in ("0", "false", "no"):
            print("development mode (CHAT_ENGINE_DEV_MODE=1): for trying it out, not for production", flush=True)
        # The demo backend verifies webhook signatures with the secret registered for its session type.
        env.setdefault("DEMO_WEBHOOK_SECRET", _persistent_secret("demo_webhook_secret", prefix="whsec_"))
        port = int(env.get("PORT", "8000"))
        env.setdefault("BIND", f"127.0.0.1:{port}")
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        demo_port = int(env.get("DEMO_BACKEND_PORT") or free_port())

        print(_flask(env, "db", "upgrade"), flush=True)
        demo = subprocess.Popen([sys.executable, "-m", "demo_backend", "--port", str(demo_port),
                                 "--delay", env.get("DEMO_DELAY", "0.05")], cwd=ROOT, env=env)
        children.append(demo)
        _flask(env, "session-type", "create", "--name", "demo", "--replace",
               "--webhook-url", f"http://127.0.0.1:{demo_port}/", "--webhook-secret-env", "DEMO_WEBHOOK_SECRET")
        engine = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                  cwd=ROOT, env=env)
        children.append(engine)
        _wait_http(f"http://127.0.0.1:{port}/health/ready", engine)
        token = _flask(env, "token", "demo-user").splitlines()[-1]
        _print_quickstart(port, token)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a child process exited; stopping", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=35)
            except subprocess.TimeoutExpired:
                child.kill()
        if postgres is not None:
            postgres.stop()


def _print_quickstart(port, token):
    base = f"http://127.0.0.1:{port}/api/v1"
    print(f"""
Chat Engine is running on {base}  (Ctrl-C stops it)
Open http://127.0.0.1:{port}/ in a browser for the web client ("Use the demo token").

TOKEN={token}
SESSION=$(curl -s -X POST {base}/sessions -H "Authorization: Bearer $TOKEN" \\
  -H 'Content-Type: application/json' -d '{{"session_type_id": "{DEMO_TYPE}"}}' \\
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])')
curl -N -X POST {base}/messages/send -H "Authorization: Bearer $TOKEN" \\
  -H 'Content-Type: application/json' -d "{{\\"session_id\\": \\"$SESSION\\", \\"content\\": \\"Hello, engine\\"}}"
""", flush=True)


if __name__ == "__main__":
    main()
