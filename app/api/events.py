"""/api/v1/events: the caller's change feed, streamed (app/chat/feed.py, app/streams/feed.py)."""
from flask import Blueprint, g

from app.api.common import load_query
from app.api.streams import feed_response
from app.chat import feed
from app.schemas import requests as schemas
from app.services import current_services

bp = Blueprint("events", __name__)


@bp.get("/events")
def follow_events():
    query = load_query(schemas.EventsQuery)
    services = current_services()
    return feed_response(feed.follow(services.db, g.caller, query.get("after"), services.config.feed_retention_seconds))
