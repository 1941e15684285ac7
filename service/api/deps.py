"""Request dependencies, as ``Annotated`` aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.db.transaction import Database
from service.events import EventBus
from service.settings import Settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_events(request: Request) -> EventBus:
    return request.app.state.events


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EventsDep = Annotated[EventBus, Depends(get_events)]
