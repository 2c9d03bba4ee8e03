"""Typed helpers for Core statements (SQLAlchemy's stubs are looser than its objects)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table

from bot.db.models import Base


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (its result is always a CursorResult)."""
    return cast(CursorResult[Any], result).rowcount


def table(model: type[Base]) -> Table:
    """A mapped class's table, for Core executemany statements."""
    return cast(Table, model.__table__)
