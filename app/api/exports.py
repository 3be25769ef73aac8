"""/api/v1/exports/{id}: download an export through its signed, expiring link (no token needed)."""
from flask import Blueprint, Response

from app.api.common import expensive_read, load_query, path_id
from app.chat import exports
from app.schemas import requests as schemas
from app.services import current_services

bp = Blueprint("exports", __name__)


@bp.get("/exports/<export_id>")
@expensive_read
def download_export(export_id):
    parsed = path_id("export", export_id)
    query = load_query(schemas.ExportDownload)
    services = current_services()
    row, filename = exports.fetch(services.db, services.config, parsed, query["expires"], query["signature"])
    return Response(bytes(row["body"]), content_type=row["content_type"],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, max-age=300"})
