"""Notebook-friendly hunting API over a lake.

Each verb takes a lake (folder, :class:`~winnow.lake.Lake`, or an open
:class:`~winnow.engine.ReadOnlySQL` to share between calls) and returns a pyarrow Table
(``.to_pandas()`` for pandas); tables the lake does not have are skipped:

- :func:`stack`: the values of one column, rarest first, each with the filter selecting its rows;
- :func:`pivot`: every table and column a value appears in, with counts and first/last seen;
- :func:`timeline`: everything about one entity across the tables and findings, oldest first;
- :func:`query`: one read-only SELECT over the lake's tables;
- :func:`process_traffic`, :func:`connection_processes`: which process talked to whom, and how much.
"""

from winnow.hunting.pivot import pivot
from winnow.hunting.processes import connection_processes, process_traffic
from winnow.hunting.sql import query
from winnow.hunting.stack import stack
from winnow.hunting.timeline import timeline

__all__ = ["connection_processes", "pivot", "process_traffic", "query", "stack", "timeline"]
