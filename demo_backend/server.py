"""A gevent WSGI server whose connections have TCP_NODELAY, so small streamed writes leave at once
(without it, Nagle's algorithm plus delayed ACKs hold each chunk ~40 ms on loopback)."""
import socket

from gevent.pywsgi import WSGIHandler, WSGIServer


class NoDelayHandler(WSGIHandler):
    def __init__(self, sock, address, server, rfile=None):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        super().__init__(sock, address, server, rfile)


def make_server(app, host, port, log=None):
    return WSGIServer((host, port), app, handler_class=NoDelayHandler, log=log, error_log=log)
