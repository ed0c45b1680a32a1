"""Captured NetFlow v5/v9/IPFIX export packets -> net.conn.

Two shapes of file: a raw UDP payload as a collector or ``nc -u -l > file`` saves it (one export
datagram, or several back to back), and a pcap/pcapng capture of export traffic on UDP. In a
capture every UDP datagram that parses as an export message is decoded, with templates kept per
sending address; other datagrams are counted as skipped.

v9/IPFIX templates of a capture come from the store the ingest layer hands over in
``ParseContext.netflow_templates``: templates of earlier files of the ingest (in file order) and of
earlier ingests of the lake, and of the lake's collector, keyed by (exporter, version, source id /
observation domain, template id); a later template replaces one with the same key, and the
templates of this file join the store. A raw file names no sender, and exporters of different
makes reuse the same template ids (256, ...), so a raw file uses only its own templates and adds
none to the store. A data set that arrives before its template is held until
the template comes later in the same file; what is still waiting at the end of the file is one
warning per template, counting data sets and bytes (records cannot be counted without the
template), e.g. ``12 data sets (3,456 bytes) for template 260 of exporter 10.0.0.1 domain 0 had no
template: their flows were not decoded``. Records with no address and no protocol are not
connections: they are counted in a warning, not written.
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
        if is_capture(head):
            decoder = NetflowDecoder(store=ctx.netflow_templates)
            yield from self._capture(_Prefixed(head, stream), decoder, ctx)
        else:
            decoder = NetflowDecoder()  # no sender address: another file's templates may be another exporter's
            data = head + stream.read(MAX_RAW)
            if stream.read(1):
                ctx.warn(None, f"raw export file larger than {MAX_RAW} bytes; only the start was read")
            if data:
                decoder.feed(data, "", 1, ctx.warn)
        yield from _take(decoder)
        for _, message in decoder.undecoded() + decoder.without_endpoints():
            ctx.warn(None, message)  # a summary of the file, not a bad line (never abandons the file)

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
