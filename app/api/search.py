"""/api/v1/search: full-text search across the caller's sessions, grouped by session and ranked."""
from flask import Blueprint, g

from app.api.common import expensive_read, load_query
from app.chat import search
from app.schemas import requests as schemas, responses
from app.services import current_services

bp = Blueprint("search", __name__)


@bp.get("/search")
@expensive_read
def search_all():
    query = load_query(schemas.SearchQuery)
    services = current_services()
    groups, total, next_cursor = search.across_sessions(services.db, g.caller, query["query"], query["limit"],
                                                        query["offset"], query.get("cursor"),
                                                        timeout_ms=services.config.search_statement_timeout_ms)
    results = [{**head, "matched_messages": matches} for head, matches in groups]
    return responses.dump(responses.SessionSearchResults, {"results": results, "total": total, "limit": query["limit"],
                                                           "offset": query["offset"], "next_cursor": next_cursor})
