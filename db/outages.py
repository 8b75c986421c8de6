"""Telling "the database is not there right now" from "this statement is wrong"."""

from __future__ import annotations

import sqlalchemy.exc

# SQLSTATE classes of an unavailable database: 08 connection exception, 53 insufficient
# resources (too many connections), 57 operator intervention (shutting down, starting up).
OUTAGE_SQLSTATE_CLASSES = {"08", "53", "57"}


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(code, str) and code[:2] in OUTAGE_SQLSTATE_CLASSES
