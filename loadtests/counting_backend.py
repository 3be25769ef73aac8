"""The demo backend, counting the TCP connections it accepts (for connection reuse per exchange).

    python -m loadtests.counting_backend --port 9100 [--delay 0.02]
    GET /_bench/connections  →  {"accepted": <connections accepted since start>}
"""
import argparse
import json

from gevent import monkey

monkey.patch_all()

from gevent.pywsgi import WSGIServer  # noqa: E402

from demo_backend.app import make_app  # noqa: E402
from demo_backend.server import NoDelayHandler  # noqa: E402

COUNTER_PATH = "/_bench/connections"
accepted = 0


class CountingHandler(NoDelayHandler):
    def __init__(self, sock, address, server, rfile=None):
        global accepted
        accepted += 1  # one handler per accepted connection; one process, so no lock is needed
        super().__init__(sock, address, server, rfile)


def counting(app):
    def wrapper(environ, start_response):
        if environ.get("PATH_INFO") == COUNTER_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"accepted": accepted}).encode()]
        return app(environ, start_response)
    return wrapper


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between streamed words")
    args = parser.parse_args()
    server = WSGIServer((args.host, args.port), counting(make_app(args.delay)), handler_class=CountingHandler,
                        log=None)
    server.serve_forever()


if __name__ == "__main__":
    main()
