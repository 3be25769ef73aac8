"""Liveness, readiness (database round trip, breaker states) and Prometheus metrics."""
from flask import Blueprint, Response

from app.api.common import engine

bp = Blueprint("health", __name__)


@bp.get("/health/live")
def live():
    return {"status": "ok"}


@bp.get("/health/ready")
def ready():
    parts = engine()
    breakers = parts.webhooks.breakers.states()
    try:
        parts.db.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})",
                "breakers": breakers}, 503
    return {"status": "ok", "database": "ok", "breakers": breakers,
            "streams": {"active": parts.slots.active, "limit": parts.slots.limit}}


@bp.get("/metrics")
def metrics():
    body, content_type = engine().metrics.render()
    return Response(body, content_type=content_type)
