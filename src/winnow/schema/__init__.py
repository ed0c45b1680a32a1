"""Normalized tables, declared once. Provenance columns are added here, never by a parser."""

from __future__ import annotations

from winnow.schema.model import PROVENANCE, Column, Table
from winnow.schema.tables import TABLES, get_table

__all__ = ["PROVENANCE", "TABLES", "Column", "Table", "get_table"]
