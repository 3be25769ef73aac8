"""psycopg's wait function for gevent workers: one libev watcher per wait.

psycopg drives every query through a generator and a wait function that sleeps until the socket is
ready. Under gevent's monkey-patching it picks `wait_poll`, whose patched `select.poll` builds a
poll object, an Event, a watcher per descriptor and a Timeout (psycopg's 0.1 s interval) on every
wait: the largest share of the client CPU a query costs (loadtests/reports/2026-11-29). This one
starts a single io watcher and a timer and parks the greenlet on them. The protocol (the generator
yields Wait.R/W/RW and is sent Ready flags; a missed deadline raises `_WaitTimeout`, which
`Connection.notifies(timeout=…)` expects) is the one `psycopg.waiting` implements. Like psycopg's
own waits it looks every second whether the descriptor was closed under it (epoll, under libev,
forgets a closed descriptor: the wait would never end) and then raises OperationalError.

A server that stops answering without closing its sockets (a hung or frozen primary, a network
partition) would hold every query sent to it forever, and with them the pool's connections.
A wait with no deadline of its own that sees no byte for `silence_seconds` (DB_SILENCE_SECONDS) shuts
the socket down and raises OperationalError: the connection is broken, the pool dials again, and with a
multi-host URL reaches the promoted standby. Waits with a deadline (LISTEN's notifies) keep theirs.
Work that is quiet by nature (a migration rewriting a table, waiting for another replica's migration
lock) runs under `silence_allowed()`, in a process of its own (the CLI), never in a serving worker.
"""
import os
import socket
from contextlib import contextmanager
from time import monotonic

import psycopg.waiting
from gevent.hub import Waiter, get_hub
from psycopg import errors
from psycopg.waiting import Ready, Wait

_EV_READ, _EV_WRITE = 1, 2  # libev's event bits, as gevent passes them to a watcher's callback
_WATCH = {Wait.R: _EV_READ, Wait.W: _EV_WRITE, Wait.RW: _EV_READ | _EV_WRITE}
_TIMED_OUT, _LOOK_AGAIN = object(), object()
LOOK_SECONDS = 1.0
_silence = {"seconds": None}  # set by install(): the longest a query may wait for the server's next byte


def wait_gevent(gen, fileno, interval=None, timeout=None):
    """Consume psycopg generator `gen` on socket `fileno`, switching to other greenlets meanwhile.
    psycopg's `interval` (0.1 s, to notice Ctrl-C) is not needed under gevent: the wait wakes every
    LOOK_SECONDS instead, only to look whether the descriptor was closed."""
    hub = get_hub()
    deadline = None if timeout is None else monotonic() + timeout
    silence = _silence["seconds"] if timeout is None else None
    heard = monotonic()
    try:
        state = next(gen)
        while True:
            events = _wait_once(hub, fileno, _WATCH[state], deadline)
            if events is _TIMED_OUT:
                raise errors._WaitTimeout("wait timeout expired")
            if events is _LOOK_AGAIN:
                _check_open(fileno)
                if silence and monotonic() - heard > silence:
                    _give_up(fileno, silence)
                state = gen.send(Ready.NONE)
                continue
            heard = monotonic()
            if events < 0:  # libev reports a descriptor it cannot watch (closed under us)
                raise errors.OperationalError("connection socket closed")
            ready = (Ready.R if events & _EV_READ else 0) | (Ready.W if events & _EV_WRITE else 0)
            state = gen.send(ready)
    except StopIteration as done:
        return done.value


def _wait_once(hub, fileno, watch, deadline):
    waiter = Waiter(hub)
    watcher = hub.loop.io(fileno, watch)
    watcher.start(waiter.switch, pass_events=True)
    seconds, wake = LOOK_SECONDS, _LOOK_AGAIN
    if deadline is not None and deadline - monotonic() <= LOOK_SECONDS:
        seconds, wake = max(deadline - monotonic(), 0.0), _TIMED_OUT
    timer = hub.loop.timer(seconds)
    # A deadline counts from now, not from the loop's cached clock (stale after CPU-bound work).
    timer.start(waiter.switch, wake, update=wake is _TIMED_OUT)
    try:
        return waiter.get()
    finally:
        watcher.close()
        timer.close()


def _give_up(fileno, silence):
    """Shut the socket down (it stays open: libpq closes it) so libpq sees the connection as lost."""
    try:
        sock = socket.socket(fileno=fileno)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()
    except OSError:
        pass
    raise errors.OperationalError(f"the database server sent nothing for {silence:g} s: connection abandoned")


def _check_open(fileno):
    try:
        os.fstat(fileno)
    except OSError as exc:
        raise errors.OperationalError("connection socket closed") from exc


@contextmanager
def silence_allowed():
    """Within this block a wait may hear nothing for as long as the server needs. It changes the
    process-wide setting: for one-job processes (migrations), not for a worker serving requests."""
    before = _silence["seconds"]
    _silence["seconds"] = None
    try:
        yield
    finally:
        _silence["seconds"] = before


def install(silence_seconds=None):
    """Make psycopg use `wait_gevent` (call once gevent has patched the standard library)."""
    _silence["seconds"] = silence_seconds or None
    psycopg.waiting.wait = wait_gevent
    return wait_gevent.__name__
