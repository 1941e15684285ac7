"""Tenants and API keys.

Every run belongs to a tenant (a name). A key acts for one tenant and is either
``write`` (create runs, sample, report) or ``read`` (dashboards: read only). Keys are
shown once at creation and stored as SHA-256 hashes.

While no active key exists the service runs *open*: every caller acts for the
``default`` tenant with write access (the embedded default on loopback). As soon as one
key exists, every request needs ``Authorization: Bearer <key>``; another tenant's run
answers 404, exactly like a run that does not exist.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, select

from service.db.models import ApiKey, utcnow
from service.db.transaction import Database
from service.errors import Forbidden, InvalidRequest, NotFound, Unauthorized

DEFAULT_TENANT = "default"
KEY_KINDS = ("write", "read")
KEY_PREFIX = "zpd_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: their tenant and whether they may write."""

    tenant: str
    can_write: bool
    key_id: str | None = None

    def require_write(self) -> None:
        """Raises :class:`Forbidden` for a read-only key."""
        if not self.can_write:
            raise Forbidden("this API key is read-only", {"key_id": self.key_id})


OPEN = Principal(tenant=DEFAULT_TENANT, can_write=True)


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed (never the key itself)."""

    key_id: str
    tenant: str
    kind: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_required(db: Database) -> bool:
    """Whether any active key exists (then every request must carry one)."""
    with db.transaction() as session:
        return bool(session.scalar(select(exists().where(ApiKey.revoked_at.is_(None)))))


def authenticate(db: Database, key: str | None) -> Principal:
    """The principal of a request carrying ``key`` (or none).

    One prepared Core statement per request, on its own outside any transaction (it reads
    committed rows either way): a key created or revoked a moment ago (by any process)
    counts from the next request on.

    Raises:
        Unauthorized: no key while keys exist, or an unknown or revoked key.
    """
    with db.single_read() as connection:
        if key is None:
            if connection.execute(_ANY_ACTIVE_KEY).scalar():
                raise Unauthorized(
                    "an API key is required: send 'Authorization: Bearer <key>' "
                    "(in a browser: add ?access_token=<key> to the dashboard's URL)"
                )
            return OPEN
        row = connection.execute(_KEY_BY_HASH, {"b_hash": hash_key(key)}).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked API key")
        return Principal(tenant=row.tenant, can_write=row.kind == "write", key_id=row.id)


_ANY_ACTIVE_KEY = select(exists().where(ApiKey.revoked_at.is_(None)))
_KEY_BY_HASH = select(ApiKey.id, ApiKey.tenant, ApiKey.kind, ApiKey.revoked_at).where(
    ApiKey.key_hash == bindparam("b_hash")
)


def create_key(
    db: Database, tenant: str, kind: str = "write", name: str = ""
) -> tuple[str, KeyInfo]:
    """Create a key for ``tenant``; returns the key (shown once) and its listing.

    Raises:
        InvalidRequest: unknown kind or an empty/overlong tenant name.
    """
    if kind not in KEY_KINDS:
        raise InvalidRequest(f"key kind must be one of {list(KEY_KINDS)}")
    if not 1 <= len(tenant) <= 64:
        raise InvalidRequest("tenant must be 1 to 64 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4().hex,
        key_hash=hash_key(key),
        tenant=tenant,
        kind=kind,
        name=name,
        created_at=utcnow(),
    )
    with db.transaction(write=True) as session:
        session.add(row)
    return key, _info(row)


def revoke_key(db: Database, key_id: str) -> KeyInfo:
    """Revoke a key by id; revoking twice keeps the first time.

    Raises:
        NotFound: no key has this id.
    """
    with db.transaction(write=True) as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"API key {key_id!r} does not exist")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _info(row)


def list_keys(db: Database) -> list[KeyInfo]:
    """All keys, oldest first."""
    with db.transaction() as session:
        return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.created_at))]


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.tenant, row.kind, row.name, row.created_at, row.revoked_at)
