"""A TCP proxy on loopback in front of a server, for what a client sees when the server misbehaves.

`freeze()` stops carrying bytes either way while every socket stays open and new connections are still
accepted: a hung or partitioned server as its clients see it (no reset, no answer). `thaw()` carries them
again. Greenlets: the tests' process is monkey-patched, so it runs while a test waits.
"""
import socket

import gevent
import gevent.event


class TcpProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self._target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._flowing = gevent.event.Event()
        self._flowing.set()
        self._sockets = []
        self.upstream_ports = set()  # the local ports of the proxy's own connections to the server
        self._acceptor = gevent.spawn(self._accept)

    def _accept(self):
        while True:
            client, _ = self._listener.accept()
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            self.upstream_ports.add(upstream.getsockname()[1])
            self._sockets += [client, upstream]
            gevent.spawn(self._carry, client, upstream)
            gevent.spawn(self._carry, upstream, client)

    def _carry(self, source, destination):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, destination):
                try:
                    each.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self):
        self._flowing.clear()

    def thaw(self):
        self._flowing.set()

    def close(self):
        self._acceptor.kill()
        self._listener.close()
        for each in self._sockets:
            each.close()
        self._flowing.set()
