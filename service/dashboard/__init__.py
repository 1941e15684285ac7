"""The live dashboard served at /dashboard (placeholder router until it is built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
