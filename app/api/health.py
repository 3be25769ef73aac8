"""Liveness, readiness (database round trip, breaker states) and Prometheus metrics."""
from flask import Blueprint, Response

from app.services import current_services

bp = Blueprint("health", __name__)


@bp.get("/health/live")
def live():
    return {"status": "ok"}


@bp.get("/health/ready")
def ready():
    services = current_services()
    breakers = services.webhooks.breakers.states()
    try:
        services.db.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})",
                "breakers": breakers}, 503
    signals = services.signals  # this worker's listener: cross-instance wake-ups and its owner lock
    return {"status": "ok", "database": "ok", "breakers": breakers,
            "signals": {"listening": signals.connected, "owner_lock": signals.owner_locked},
            "streams": {"active": services.slots.active, "limit": services.slots.limit},
            "expensive_reads": services.reads.state()}


@bp.get("/metrics")
def metrics():
    body, content_type = current_services().metrics.render()
    return Response(body, content_type=content_type)
