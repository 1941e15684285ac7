"""Alembic migrations of the ZPD database (generated from ``service.db.models``)."""
