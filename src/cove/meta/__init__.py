"""The metadata database: every resource's state, in SQL (SQLite by default, any URL by config).

The tables are all in :mod:`cove.meta.tables`.
"""

from cove.meta import tables
from cove.meta._database import Database, DatabaseError
from cove.meta.tables import SCHEMA_VERSION, metadata

__all__ = ["SCHEMA_VERSION", "Database", "DatabaseError", "metadata", "tables"]
