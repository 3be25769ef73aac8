"""An unchanged session's export is reused, not copied again; the caps
answer in the contract's error shape, as the served document declares."""
import requests

from support.engine import Api, expect


def test_exports_are_reused_and_capped_per_client_and_per_export(start_engine, session_type, db, contract):
    engine = start_engine(EXPORT_MAX_PER_CLIENT=2, EXPORT_MAX_BYTES=4096)
    owner = Api(engine.url, "export-owner")
    sessions = [owner.create_session(session_type) for _ in range(3)]
    for session_id in sessions:
        assert owner.send(session_id, "hello").types[-1] == "complete"

    first = expect(owner.post(f"/sessions/{sessions[0]}/export", json={"format": "txt", "scope": "all"}), 200).json()
    again = expect(owner.post(f"/sessions/{sessions[0]}/export", json={"format": "txt", "scope": "all"}), 200).json()
    assert again["download_url"].split("?")[0] == first["download_url"].split("?")[0]
    assert db.execute("SELECT count(*) AS n FROM exports").fetchone()["n"] == 1
    assert "hello" in expect(requests.get(again["download_url"], timeout=10), 200).text

    assert owner.send(sessions[2], "x " * 3000).types[-1] == "complete"  # now over 4 KiB
    contract.validate_error(owner.post(f"/sessions/{sessions[2]}/export", json={"format": "txt", "scope": "all"}),
                            413, "INVALID_REQUEST")
    assert db.execute("SELECT count(*) AS n FROM exports").fetchone()["n"] == 1

    expect(owner.post(f"/sessions/{sessions[1]}/export", json={"format": "txt", "scope": "all"}), 200)
    refused = owner.post(f"/sessions/{sessions[0]}/export", json={"format": "markdown", "scope": "all"})
    body = contract.validate_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert body["details"]["limit_type"] == "concurrent" and int(refused.headers["Retry-After"]) >= 1
    assert db.execute("SELECT count(*) AS n FROM exports").fetchone()["n"] == 2

    operation = contract.document["paths"]["/sessions/{id}/export"]["post"]
    assert {"413", "429"} <= set(operation["responses"])
