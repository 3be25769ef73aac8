"""Flask CLI commands: `flask --app wsgi db upgrade | token | session-type ...`."""
import json
import os

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from app import migrations
from app.auth import issue_token
from app.chat import session_types
from app.errors import ApiError
from app.schemas import requests as schemas, responses
from app.services import current_services
from app.webhooks import signing

db_cli = AppGroup("db", help="Database schema.")
types_cli = AppGroup("session-type", help="Manage session types (the admin API, from the shell).")


def _database():
    database = current_services().db
    if database is None:
        raise click.ClickException("DATABASE_URL is not set")
    return database


def _session_database_url():
    config = current_services().config
    if not config.database_url:
        raise click.ClickException("DATABASE_URL is not set")
    return config.session_database_url  # an advisory lock: not through a pooler


def _partitions_setting():
    """DATABASE_PARTITIONS: hash partitions by session for `db upgrade` (unset or 0: the plain layout). Read here,
    not in the app's config: only the upgrade acts on it (docs/partitioning.md)."""
    text = os.environ.get("DATABASE_PARTITIONS", "").strip()
    if text in ("", "0"):
        return None
    if not text.isdigit() or not 2 <= int(text) <= 1024:
        raise click.ClickException("DATABASE_PARTITIONS must be 0 or a whole number from 2 to 1024")
    return int(text)


@db_cli.command("upgrade")
def db_upgrade():
    """Apply pending migrations from sql/migrations (then partition, with DATABASE_PARTITIONS)."""
    partitions = _partitions_setting()
    applied = migrations.upgrade(_session_database_url(), partitions=partitions)
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    if partitions:
        click.echo(f"per-session tables hash-partitioned by session ({partitions} partitions)")


@db_cli.command("partition")
@click.option("--partitions", type=click.IntRange(2, 1024), required=True,
              help="How many hash partitions each per-session table gets.")
def db_partition(partitions):
    """Hash-partition the per-session tables by session_id, in one transaction (tables already partitioned are left
    as they are)."""
    converted = migrations.partition(_session_database_url(), partitions)
    click.echo(f"partitioned ({partitions} partitions): {', '.join(converted)}" if converted
               else "already partitioned")


@click.command("token")
@click.argument("client_id")
@click.option("--admin", is_flag=True, help="Include the admin role.")
@click.option("--ttl", default=24 * 3600, show_default=True, help="Lifetime in seconds.")
def token(client_id, admin, ttl):
    """Print a development JWT for CLIENT_ID, signed with JWT_SECRET."""
    click.echo(issue_token(current_services().config, client_id, admin=admin, ttl_seconds=ttl))


@types_cli.command("create")
@click.option("--id", "session_type_id", help="Full GTS id; derived from --name when omitted.")
@click.option("--name", required=True)
@click.option("--webhook-url", required=True)
@click.option("--timeout", "timeout_seconds", type=click.IntRange(1, 300), default=30, show_default=True)
@click.option("--description", default="")
@click.option("--summarization/--no-summarization", "summarization_enabled", default=False)
@click.option("--summarization-url", default=None)
@click.option("--replace", is_flag=True, help="Overwrite the settings when the id already exists.")
@click.option("--webhook-secret-env", metavar="NAME",
              help="Take the webhook signing secret (whsec_…) from this environment variable instead of "
                   "generating one; with --replace it also replaces the stored secret.")
def create_type(replace, webhook_secret_env, **values):
    """Register a session type. A generated webhook signing secret is printed once."""
    try:
        loaded = schemas.SessionTypeCreate().load({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(json.dumps(exc.messages)) from None
    loaded.pop("health_check")
    given_secret = _secret_from_env(webhook_secret_env)
    services = current_services()
    try:
        session_types.check_urls(loaded, services.config.webhook_allowed_networks)
        row = session_types.create(_database(), {**loaded, "webhook_secret": given_secret})
    except ApiError as exc:
        if not (replace and exc.status == 409):
            raise click.ClickException(exc.message) from None
        existing_id = loaded.pop("session_type_id", None) or session_types.derived_id(loaded["name"])
        row = session_types.update(_database(), existing_id, loaded)
        if given_secret:
            row = session_types.rotate_secret(_database(), existing_id, given_secret)
        click.echo(json.dumps(responses.dump(responses.SessionType, row), indent=2))
        return
    shown = responses.dump(responses.SessionType if given_secret else responses.SessionTypeCreated, row)
    click.echo(json.dumps(shown, indent=2))


@types_cli.command("rotate-secret")
@click.argument("session_type_id")
@click.option("--webhook-secret-env", metavar="NAME", help="Take the new secret from this environment variable.")
def rotate_secret(session_type_id, webhook_secret_env):
    """Replace a session type's webhook signing secret; a generated one is printed once."""
    given_secret = _secret_from_env(webhook_secret_env)
    try:
        row = session_types.rotate_secret(_database(), session_type_id, given_secret)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo("secret replaced" if given_secret else row["webhook_secret"])


def _secret_from_env(name):
    """A secret passed by variable name, so it never shows in the process list or shell history."""
    if not name:
        return None
    secret = os.environ.get(name, "")
    if not signing.is_well_formed(secret):
        raise click.ClickException(f"{name} must hold whsec_ followed by 32-200 characters of A-Z a-z 0-9 - _")
    return secret


@types_cli.command("list")
def list_types():
    """List session types."""
    for row in session_types.list_all(_database()):
        click.echo(json.dumps(responses.dump(responses.SessionType, row)))


@types_cli.command("delete")
@click.argument("session_type_id")
def delete_type(session_type_id):
    """Delete a session type no session uses."""
    try:
        session_types.delete(_database(), session_type_id)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo("deleted")


def register(app):
    app.cli.add_command(db_cli)
    app.cli.add_command(token)
    app.cli.add_command(types_cli)
