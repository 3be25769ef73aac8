"""/api/v1/exports/{id}: download an export through its signed, expiring link (no token needed)."""
from flask import Blueprint, Response

from app.api.common import engine, load_query, path_id
from app.chat import exports
from app.schemas import requests as schemas

bp = Blueprint("exports", __name__)


@bp.get("/exports/<export_id>")
def download_export(export_id):
    parsed = path_id("export", export_id)
    query = load_query(schemas.ExportDownload())
    parts = engine()
    row, filename = exports.fetch(parts.db, parts.config, parsed, query["expires"], query["signature"])
    return Response(bytes(row["body"]), content_type=row["content_type"],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, max-age=300"})
