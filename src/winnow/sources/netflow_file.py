"""Captured NetFlow v5/v9/IPFIX export packets -> net.conn.

Two shapes of file: a raw UDP payload as a collector or ``nc -u -l > file`` saves it (one export
datagram, or several back to back), and a pcap/pcapng capture of export traffic on UDP. In a
capture every UDP datagram that parses as an export message is decoded, with templates kept per
sending address; other datagrams are counted as skipped. A data set whose template is not in the
same file is reported as the warning ``no template for set N`` (feed template and data packets
to one :class:`~winnow.sources.netflow_decode.NetflowDecoder` to decode them together).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from winnow.sources.base import Batch, ParseContext, Source
from winnow.sources.netflow_decode import NetflowDecoder, check_header
from winnow.sources.registry import register

#: a raw export file larger than this is not one datagram capture
MAX_RAW = 64 << 20
#: flows per yielded batch
BATCH_ROWS = 200_000
#: UDP payloads of a capture that the sniff inspects
SNIFF_DATAGRAMS = 4


@register
class NetflowFile(Source):
    name: ClassVar[str] = "netflow"
    description: ClassVar[str] = (
        "NetFlow v5/v9 and IPFIX export packets: raw UDP payload files (.dat) or pcap/pcapng captures of them"
    )
    tables: ClassVar[tuple[str, ...]] = ("net.conn",)

    def sniff(self, head: bytes, filename: str) -> bool:
        from winnow.sources.pcap_reader import is_capture

        if is_capture(head):
            return _capture_has_netflow(head)
        return check_header(head)

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        from winnow.sources.pcap_reader import is_capture

        head = stream.read(12)
        decoder = NetflowDecoder()
        if is_capture(head):
            yield from self._capture(_Prefixed(head, stream), decoder, ctx)
        else:
            data = head + stream.read(MAX_RAW)
            if stream.read(1):
                ctx.warn(None, f"raw export file larger than {MAX_RAW} bytes; only the start was read")
            if data:
                decoder.feed(data, "", 1, ctx.warn)
        yield from _take(decoder)
        for packet, set_id in decoder.pending_sets():
            ctx.warn(packet, f"no template for set {set_id}")

    def _capture(self, stream: BinaryIO, decoder: NetflowDecoder, ctx: ParseContext) -> Iterator[Batch]:
        from winnow.sources.pcap_reader import datagrams

        skipped = 0
        for dgram in datagrams(stream, ctx.warn):
            if not check_header(dgram.payload):
                skipped += 1
                continue
            decoder.feed(dgram.payload, dgram.src, dgram.number, ctx.warn)
            if decoder.buffered_rows >= BATCH_ROWS:
                yield from _take(decoder)
        if skipped:
            ctx.skip_unsupported("UDP datagrams that are not NetFlow/IPFIX", skipped)


def _take(decoder: NetflowDecoder) -> Iterator[Batch]:
    table = decoder.take()
    if table is not None:
        yield Batch("net.conn", table)


def _capture_has_netflow(head: bytes) -> bool:
    """The first UDP datagrams of the capture head all parse as export messages (and there is one)."""
    import io

    from winnow.sources.pcap_reader import datagrams

    seen = 0
    for dgram in datagrams(io.BytesIO(head), lambda *args: None):
        if not check_header(dgram.payload):
            return False
        seen += 1
        if seen >= SNIFF_DATAGRAMS:
            break
    return seen > 0


class _Prefixed:
    """A read-only stream that replays bytes already read from the front of another one."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self.prefix, self.stream = prefix, stream

    def read(self, size: int = -1) -> bytes:
        if not self.prefix:
            return self.stream.read(size)
        if size < 0:
            out, self.prefix = self.prefix + self.stream.read(), b""
            return out
        out, self.prefix = self.prefix[:size], self.prefix[size:]
        if len(out) < size:
            out += self.stream.read(size - len(out))
        return out
