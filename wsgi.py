"""The WSGI entry point for gunicorn and the Flask CLI. gevent patches the standard library FIRST:
psycopg picks its wait function at import, and must find a patched `select`."""
from gevent import monkey

monkey.patch_all()

from app import create_app  # noqa: E402  (must follow the patch)

app = create_app()
