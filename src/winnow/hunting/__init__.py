"""Notebook-friendly hunting API over a lake: which process talked to whom, and how much."""

from winnow.hunting.processes import connection_processes, process_traffic

__all__ = ["connection_processes", "process_traffic"]
