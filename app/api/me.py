"""/api/v1/me: what the engine keeps of the caller, as a whole."""
from flask import Blueprint, g

from app.chat import erasure
from app.schemas import responses
from app.services import current_services

bp = Blueprint("me", __name__)


@bp.delete("/me/data")
def erase_my_data():
    return responses.dump(responses.Erased, {"deleted": erasure.erase_client(current_services().db, g.caller)})
