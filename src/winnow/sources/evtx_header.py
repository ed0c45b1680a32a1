"""The EVTX file header: how many chunks it declares, and whether the file holds them all.

A file is 4 KB of header followed by 64 KB chunks. A file cut off mid-copy holds fewer chunks
than its header declares, or ends inside a chunk; the records of a cut chunk cannot be read, so
the cut is reported with its counts. A dirty file (more complete chunks than declared, as when
the header was not updated before the copy) is not truncated.
"""

from __future__ import annotations

import struct

HEADER_BYTES = 4096
CHUNK_BYTES = 65536


def declared_chunks(head: bytes) -> int | None:
    """The chunk count the file header declares, or None when the header is too short."""
    if len(head) < 44:
        return None
    return struct.unpack_from("<H", head, 42)[0]


def truncation(head: bytes, size: int, records: int) -> str | None:
    """A warning's text when the file is cut off (fewer chunks than declared, or a partial chunk), else None.

    Args:
        head: the file's first bytes (its header).
        size: the file's size in bytes.
        records: the records recovered from it.
    """
    declared = declared_chunks(head)
    if declared is None:
        return None
    complete, rest = divmod(max(size - HEADER_BYTES, 0), CHUNK_BYTES)
    if rest == 0 and complete >= declared:
        return None
    held = f"{complete} complete chunks" + (f" and {rest} bytes of another" if rest else "")
    return (f"EVTX file is truncated: its header declares {declared} chunks, the file holds {held} "
            f"(chunks read: {complete}); {records} records recovered, the records of the cut chunk are lost")
