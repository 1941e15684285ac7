"""Schema versions: upgrade with Alembic, refuse to serve a stale schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from service.errors import ZPDError

MIGRATE_HINT = "run `zpd migrate` (with the same ZPD_DATABASE_URL) to upgrade it"


class SchemaError(ZPDError):
    """The database schema does not match this version of the service."""

    status_code = 503
    code = "schema_out_of_date"


def migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and ``database_url``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision(database_url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def ensure_schema(engine: Engine, database_url: str, auto_migrate: bool) -> None:
    """Check the schema is at head; create it on an empty database if ``auto_migrate``.

    Raises:
        SchemaError: the database is at another revision (or empty without auto_migrate);
            the message names the command that fixes it.
    """
    head = head_revision(database_url)
    current = current_revision(engine)
    if current == head:
        return
    if current is None and auto_migrate and not inspect(engine).get_table_names():
        upgrade(database_url)
        return
    state = "empty" if current is None else f"at revision {current}"
    raise SchemaError(
        f"the database schema is {state}, this service needs revision {head}: {MIGRATE_HINT}"
    )
