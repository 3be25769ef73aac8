"""A change feed followed from a test (GET /api/v1/events)."""
import gevent

from support.engine import read_ndjson
from support.waiting import wait_until


class Follower:
    """Reads a feed in a greenlet of its own; `lines` fills as they arrive."""

    def __init__(self, api, after=None):
        api = self.api = api.as_client(api.client_id)  # a connection of its own, closed with it
        self.response = api.call("GET", "/events" + (f"?after={after}" if after else ""), stream=True,
                                 timeout=60)
        assert self.response.status_code == 200, self.response.text
        self.lines = []
        self._reader = gevent.spawn(self._read)

    def _read(self):
        try:
            for line in read_ndjson(self.response):
                self.lines.append(line)
        except Exception:  # noqa: BLE001 - closed by the test
            pass

    def kinds(self):
        return [line["type"] for line in self.lines if line["type"] not in ("feed", "heartbeat")]

    def wait_for(self, *kinds):
        wait_until(lambda: all(kind in self.kinds() for kind in kinds), message=f"{kinds} on the feed")
        return self.lines

    def close(self):
        self._reader.kill()  # first: closing the response under a read in progress is refused
        self.response.close()
        self.api.http.close()  # a connection left open would hold the engine's graceful stop
