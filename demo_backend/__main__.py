"""python -m demo_backend --port 9100 [--delay 0.05]

DEMO_WEBHOOK_SECRET (the session type's whsec_… secret; comma-separated during a rotation) makes it
refuse requests that are not signed by the engine.
"""
import argparse
import os

from gevent import monkey

monkey.patch_all()

from demo_backend.app import make_app  # noqa: E402
from demo_backend.server import make_server  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description="Chat Engine demo webhook backend")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between streamed words")
    parser.add_argument("--mode", choices=["ok", "error", "hang"], default="ok",
                        help="error / hang: fail message events (isolation experiments)")
    args = parser.parse_args()
    secrets = [s.strip() for s in os.environ.get("DEMO_WEBHOOK_SECRET", "").split(",") if s.strip()]
    checking = "signatures verified" if secrets else "WARNING: DEMO_WEBHOOK_SECRET unset, signatures NOT verified"
    print(f"demo backend on http://{args.host}:{args.port}/ (delay {args.delay}s, mode {args.mode}; {checking})",
          flush=True)
    make_server(make_app(args.delay, args.mode, secrets), args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
