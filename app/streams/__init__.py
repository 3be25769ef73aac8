"""Streaming: a reply relayed from its backend to its client, and everything that keeps it alive across
instances. Above the domain (app.chat), which it calls and which never calls it: the relay
(relay.py) and its end (outcomes.py), rejoins and replays (rejoin.py), the chunk log (chunk_log.py),
leases and the sweep (leases.py), replies in flight seen from any instance (live.py), the busy policy
(starting.py), the LISTEN/NOTIFY wake-ups and owner locks (wakeups.py), the stream caps (slots.py)."""
