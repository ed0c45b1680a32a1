"""Which process made each connection: ``net.conn`` joined to ``proc.net`` on the 5-tuple, skew-tolerant.

Endpoint sensors and network sensors disagree about time (clocks drift, Sysmon stamps the
connect call, Zeek the first packet) and about what they see (auditd ``connect`` has no source
port, ``accept`` has only the peer). The join works in four steps, all as engine queries:

1. **Candidates.** Every endpoint event is matched with the connections that agree on every
   address and port it knows, and start within ``search_window`` seconds of it. An event that lacks
   the local address (auditd) takes its host's address, learned from the events that do know it
   or, failing that, from the connection address whose fits line up at one clock offset (see
   ``_host_addresses``). The time condition is joined through time buckets (``_buckets``).
2. **Clock offset per host.** The median of (endpoint time - network time) over the host's
   unambiguous candidates (one event, one connection) is the host's clock offset.
3. **Match.** A connection side keeps the events within ``tolerance`` seconds of the offset-corrected
   time; the nearest wins. ``candidates`` counts the distinct processes that fit.
4. **Quality.** ``exact``: the full 5-tuple, one process, raw time within ``exact_within`` s, and
   the connection is its event's nearest. ``skew``: one process, matched after the clock
   correction, on a partial tuple, or through an event that fits another connection better (auditd
   knows no source port, so a process's bursts to one server, such as a resolver's DNS queries or a
   browser's parallel connections, cannot be paired one to one; the process is still the only one
   that fits). ``ambiguous``: several processes fit; the nearest is reported. ``unmatched``: the
   connection starts or ends at an instrumented host's address while the host was logging, and no
   event fits.

Times are compared in whole milliseconds (exact integer arithmetic, identical on every engine).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import ibis
import pyarrow as pa

from winnow.engine import Engine, Window, fetch

MATCH_QUALITIES = ("exact", "skew", "ambiguous", "unmatched")
#: events per host (at most, evenly spread in time) from which a host's address is inferred
ADDRESS_SAMPLE = 400
#: (most sources a destination may have, events sampled per host) of each round of address inference; a
#: round only serves hosts the rounds before left without an address (see ``_host_addresses``)
ADDRESS_SOURCE_TIERS = ((20, ADDRESS_SAMPLE), (500, 50))


@dataclass(frozen=True)
class JoinParams:
    """Parameters of the connection-process join: the ``attribution.*`` settings (:meth:`from_config`).

    Args:
        tolerance: seconds an endpoint event may sit from the clock-corrected connection start.
        search_window: seconds around the raw connection start searched when learning clock offsets.
        exact_within: raw seconds within which a unique full-tuple match counts as ``exact``.
        min_address_share: share of a host's partial-tuple events a source address must explain to be
            taken as the host's address.
    """

    tolerance: float
    search_window: float
    exact_within: float
    min_address_share: float

    @classmethod
    def from_config(cls, **changes: float) -> JoinParams:
        """The parameters in force (``attribution.<name>`` settings), with ``changes`` applied."""
        from winnow.config import current

        config = current()
        return cls(**{f.name: config.get(f"attribution.{f.name}") for f in fields(cls)} | changes)


def _ms(ts):
    """Epoch milliseconds of a timestamp column (integer on every engine)."""
    return ts.epoch_seconds().floor().cast("int64") * 1000 + ts.millisecond().cast("int64")


def _events(engine: Engine, window: Window, shifts: dict[str, int] | None = None, pad_ms: int = 0):
    """proc.net rows as match candidates; ``e_ms`` is the endpoint time minus the host's coarse ``shifts``."""
    proc = engine.table("proc.net", None if shifts else window)
    proc = proc.filter(proc.ts.notnull() & ((proc.family.isnull()) | (proc.family != "unix")))
    proc = proc.filter(proc.dst_ip.notnull() | proc.src_ip.notnull())
    key = ibis.coalesce(proc.process_guid, proc.host.concat(":", proc.pid.cast("string")))
    events = proc.select(
        e_host=proc.host, e_raw_ms=_ms(proc.ts), e_pid=proc.pid, e_guid=proc.process_guid, e_proc=key,
        e_image=proc.image, e_user=proc.user, e_proto=proc.proto.lower(),
        e_src=proc.src_ip, e_sport=proc.src_port, e_dst=proc.dst_ip, e_dport=proc.dst_port,
        e_side=ibis.cases((proc.direction == "inbound", "dst"), else_="src"),
    ).mutate(e_id=ibis.literal("").concat(  # a deterministic identity of the event, the same on every engine
        proc.host.fill_null(""), "|", key.fill_null(""), "|", _ms(proc.ts).cast("string"), "|",
        proc.dst_ip.fill_null(""), ":", proc.dst_port.cast("string").fill_null(""), "|",
        proc.src_ip.fill_null(""), ":", proc.src_port.cast("string").fill_null("")))
    if not shifts:
        return events.mutate(e_shift=ibis.literal(0, "int64"), e_ms=events.e_raw_ms)
    table = ibis.memtable(pa.table({"s_host": pa.array(list(shifts), pa.string()),
                                    "s_ms": pa.array(list(shifts.values()), pa.int64())}))
    joined = events.left_join(table, events.e_host == table.s_host)
    events = joined.select(*[events[c] for c in events.columns], e_shift=ibis.coalesce(table.s_ms, 0))
    events = events.mutate(e_ms=events.e_raw_ms - events.e_shift)
    since = _window_ms(window.since)
    until = _window_ms(window.until)
    if since is not None:
        events = events.filter(events.e_ms >= since - pad_ms)
    if until is not None:
        events = events.filter(events.e_ms < until + pad_ms)
    return events


def _buckets(events, conns, window_ms: int):
    """``events`` three times over (neighbouring time buckets) and ``conns`` with their bucket.

    Joining on the bucket as well as on the addresses turns "starts within ``window_ms``" into an
    equality a hash join can use: a busy destination (the DNS server) otherwise pairs each event with
    every connection of the day before the time condition is checked. Every pair within ``window_ms``
    shares exactly one bucket, so the join's result is unchanged.
    """
    width = max(window_ms, 1)
    home = events.e_ms // width
    expanded = events.mutate(e_bucket=home - 1).union(events.mutate(e_bucket=home)).union(
        events.mutate(e_bucket=home + 1))
    return expanded, conns.mutate(c_bucket=conns.c_ms // width)


def _window_ms(value) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def sensor_shifts(engine: Engine, params: JoinParams) -> dict[str, int]:
    """Whole-second clock offsets (ms) of hosts whose endpoint clock is far from the network sensor's.

    Replayed captures and machines with a wrong clock put endpoint events minutes or days away
    from the connections they describe, out of reach of the search window. Events that know the
    full 5-tuple are matched on it alone, keeping only the pairs where the tuple is unique (one
    event, one connection): ephemeral source ports make most tuples unique, while fixed-port ones
    (NTP is 123 to 123 all day, a polling agent's small port pool) pair every event with every
    connection and would put the median anywhere. When the median offset (whole seconds) of a
    host's matches exceeds the search window and most matches lie within the search window of it,
    the median is the host's shift. Computed over the whole lake.
    """
    events, conns = _events(engine, Window()), _conns(engine, Window())
    full = events.filter(events.e_src.notnull() & events.e_sport.notnull() & events.e_dst.notnull()
                         & events.e_dport.notnull())
    # keep tuples seen exactly once on each side BEFORE joining: a repeated tuple would pair every
    # event with every connection (memory grows with the square of the repeats)
    key = ["t_src", "t_sport", "t_dst", "t_dport"]
    ev = full.select("e_id", "e_host", "e_ms", t_src=full.e_src, t_sport=full.e_sport, t_dst=full.e_dst,
                     t_dport=full.e_dport)
    cn = conns.select("uid", "c_ms", t_src=conns.src_ip, t_sport=conns.src_port, t_dst=conns.dst_ip,
                      t_dport=conns.dst_port)
    # count only tuples both sides have: the day's connections are tens of millions of tuples, the
    # endpoint events a fraction of them (the counts of the tuples kept are unchanged)
    ev, cn = ev.semi_join(cn, key), cn.semi_join(ev, key)
    ev_once = ev.group_by(key).aggregate(k=ev.count())
    cn_once = cn.group_by(key).aggregate(k=cn.count())
    ev = ev.semi_join(ev_once.filter(ev_once.k == 1), key)
    cn = cn.semi_join(cn_once.filter(cn_once.k == 1), key)
    pairs = ev.join(cn, key)
    pairs = pairs.mutate(sec=((pairs.e_ms - pairs.c_ms) / 1000.0).round().cast("int64"))
    # both tuples occur once on their side: each pair is one event (a count, not a distinct count)
    hist = pairs.group_by(["e_host", "sec"]).aggregate(n=pairs.count())
    totals = pairs.group_by("e_host").aggregate(total=pairs.count())
    counts: dict[str, list[tuple[int, int]]] = {}
    total = {r["e_host"]: r["total"] for r in fetch(totals).to_pylist()}
    for row in fetch(hist).to_pylist():
        counts.setdefault(row["e_host"], []).append((row["n"], row["sec"]))
    shifts = {}
    for host, options in counts.items():
        options.sort(key=lambda o: o[1])
        half, run, median = sum(n for n, _ in options) / 2, 0, options[-1][1]
        for n, sec in options:
            run += n
            if run >= half:
                median = sec
                break
        near = sum(n for n, sec in options if abs(sec - median) <= params.search_window)
        if abs(median) > params.search_window and near >= max(3, params.min_address_share * total[host]):
            shifts[host] = median * 1000
    return shifts


def _conns(engine: Engine, window: Window):
    conn = engine.table("net.conn", window)
    conn = conn.filter(conn.ts.notnull() & conn.uid.notnull() & conn.src_ip.notnull() & conn.dst_ip.notnull())
    return conn.select("uid", "src_ip", "src_port", "dst_ip", "dst_port", "src_bytes", "dst_bytes",
                       c_ts=conn.ts, c_ms=_ms(conn.ts), c_proto=conn.proto.lower())


def _host_addresses(events, conns, params: JoinParams) -> pa.Table:
    """(host, address) pairs: the local address of full-tuple events, else inferred from fits.

    An event without its local address (auditd ``connect`` knows only the destination, ``accept``
    only the peer) fits the connections that agree on what it knows and start within the search
    window. The host's address is the one whose fits line up in time: a host's events sit at one
    clock offset from its own connections (give or take the jitter of the two sensors), while other
    hosts' connections to the same busy destination (the DNS server, a proxy) fit at scattered
    offsets. So the score of an address is the largest number of the host's events whose fits fall
    in one ``2 * exact_within`` s wide bin of offsets (two staggered grids, so a spread of up to
    ``exact_within`` s always fits one bin); the best-scoring address is taken when it explains at
    least ``min_address_share`` of the events. Addresses that another host logs as its own, or that
    were inferred for another host already, are not inferred.

    The fits to a destination grow with the number of sources using it, so the inference goes in
    tiers (:data:`ADDRESS_SOURCE_TIERS`): first from outbound events to destinations at most 20
    sources use (and inbound events), at most ``ADDRESS_SAMPLE`` events per host evenly spread in
    time; hosts left without an address (in a large fleet, a host may use only popular destinations)
    try again with more popular destinations and a smaller sample.
    """
    local = ibis.cases((events.e_side == "src", events.e_src), else_=events.e_dst)
    known = events.filter(events.e_src.notnull() & events.e_dst.notnull() & events.e_sport.notnull())
    known = known.select(host=known.e_host, address=local.name("address"))
    known_counts = known.group_by(["host", "address"]).aggregate(n=known.count())
    known_total = known.group_by("host").aggregate(total=known.count())
    direct = known_counts.join(known_total, "host")
    direct = fetch(direct.filter(direct.n >= direct.total * 0.1).select("host", "address"))

    partial = events.filter(events.e_sport.isnull() | events.e_src.isnull())
    dst_sources = conns.group_by(["dst_ip", "dst_port"]).aggregate(sources=conns.src_ip.nunique())
    found = [direct]
    for max_sources, sample in ADDRESS_SOURCE_TIERS:
        taken = ibis.memtable(pa.concat_tables(found))
        todo = partial.anti_join(taken, partial.e_host == taken.host)
        inferred = _inferred(todo, conns, dst_sources, params, max_sources, sample)
        found.append(fetch(inferred.anti_join(taken, inferred.address == taken.address)))
    return pa.concat_tables(found).group_by(["host", "address"]).aggregate([]).sort_by([("host", "ascending"),
                                                                                     ("address", "ascending")])


def _inferred(partial, conns, dst_sources, params: JoinParams, max_sources: int, sample_size: int):
    """(host, address) inferred from the partial-tuple events given (see :func:`_host_addresses`), using
    outbound events to destinations at most ``max_sources`` sources use, ``sample_size`` events per host."""
    rare = dst_sources.filter(dst_sources.sources <= max_sources)
    outbound_rare = partial.semi_join(rare, [partial.e_dst == rare.dst_ip, partial.e_dport == rare.dst_port])
    partial = outbound_rare.union(partial.filter(partial.e_side == "dst"))
    order = ibis.window(group_by="e_host", order_by=["e_ms", "e_id"])
    partial = partial.mutate(k=ibis.row_number().over(order), n=partial.count().over(ibis.window(group_by="e_host")))
    partial = partial.filter(partial.k % (partial.n // sample_size + 1) == 0)
    window_ms = int(params.search_window * 1000)
    sample, near_conns = _buckets(partial, conns, window_ms)
    proto_ok = sample.e_proto.isnull() | near_conns.c_proto.isnull() | (sample.e_proto == near_conns.c_proto)
    near = [sample.e_bucket == near_conns.c_bucket, (near_conns.c_ms - sample.e_ms).abs() <= window_ms, proto_ok]
    outbound = sample.filter((sample.e_side == "src") & sample.e_dst.notnull() & sample.e_dport.notnull())
    out_fits = outbound.join(near_conns, [outbound.e_dst == near_conns.dst_ip,
                                          outbound.e_dport == near_conns.dst_port, *near,
                                          outbound.e_src.isnull() | (outbound.e_src == near_conns.src_ip)])
    out_fits = out_fits.select("e_host", "e_id", address=out_fits.src_ip, dt=out_fits.c_ms - out_fits.e_ms)
    inbound = sample.filter((sample.e_side == "dst") & sample.e_src.notnull() & sample.e_sport.notnull())
    in_fits = inbound.join(near_conns, [inbound.e_src == near_conns.src_ip, inbound.e_sport == near_conns.src_port,
                                        *near, inbound.e_dport.isnull() | (inbound.e_dport == near_conns.dst_port)])
    in_fits = in_fits.select("e_host", "e_id", address=in_fits.dst_ip, dt=in_fits.c_ms - in_fits.e_ms)
    fits = out_fits.union(in_fits)
    width = 2 * max(int(params.exact_within * 1000), 1)
    bins = [fits.select("e_host", "e_id", "address", grid=ibis.literal(g),
                        bin=((fits.dt + g * width // 2) / width).floor().cast("int64")) for g in (0, 1)]
    binned = bins[0].union(bins[1])
    per_bin = binned.group_by(["e_host", "address", "grid", "bin"]).aggregate(n=binned.e_id.nunique())
    peaks = per_bin.group_by(["e_host", "address"]).aggregate(peak=per_bin.n.max())
    best = peaks.group_by("e_host").aggregate(top=peaks.peak.max())
    totals = partial.group_by("e_host").aggregate(total=partial.count())
    scored = peaks.join(best, "e_host").join(totals, "e_host")
    inferred = scored.filter((scored.peak == scored.top) & (scored.peak >= scored.total * params.min_address_share))
    return inferred.select(host=inferred.e_host, address=inferred.address)


def _partition(address, part: tuple[int, int]):
    """True for addresses in partition ``part = (index, count)`` (a hash of the address; any split is exact)."""
    index, count = part
    return ((address.hash() % count) + count) % count == index


def _candidates(events, conns, addresses, limit_ms: int, part: tuple[int, int] = (0, 1)):
    """(event, connection side) pairs that agree on everything the event knows, within ``limit_ms``; only
    events whose local address (the connection side they describe) falls in partition ``part``."""
    addr = addresses.select(a_host="host", a_addr="address")
    ev = events.left_join(addr, events.e_host == addr.a_host).select(
        *[events[c] for c in events.columns], addr.a_addr
    )
    local_src = ibis.coalesce(ev.e_src, ibis.cases((ev.e_side == "src", ev.a_addr), else_=ibis.null("string")))
    local_dst = ibis.coalesce(ev.e_dst, ibis.cases((ev.e_side == "dst", ev.a_addr), else_=ibis.null("string")))
    ev = ev.mutate(m_src=local_src, m_dst=local_dst)
    ev = ev.filter(ev.m_src.notnull() & ev.m_dst.notnull())
    if part[1] > 1:
        ev = ev.filter(_partition(ibis.cases((ev.e_side == "src", ev.m_src), else_=ev.m_dst), part))
    ev, near_conns = _buckets(ev, conns, limit_ms)
    joined = ev.join(near_conns, [
        ev.m_src == near_conns.src_ip, ev.m_dst == near_conns.dst_ip, ev.e_bucket == near_conns.c_bucket,
        (near_conns.c_ms - ev.e_ms).abs() <= limit_ms,
    ])
    joined = joined.drop("e_bucket", "c_bucket")
    ok = ((joined.e_sport.isnull() | (joined.e_sport == joined.src_port))
          & (joined.e_dport.isnull() | (joined.e_dport == joined.dst_port))
          & (joined.e_proto.isnull() | joined.c_proto.isnull() | (joined.e_proto == joined.c_proto)))
    joined = joined.filter(ok)
    full = joined.e_src.notnull() & joined.e_sport.notnull() & joined.e_dst.notnull() & joined.e_dport.notnull()
    return joined.mutate(dt=joined.e_ms - joined.c_ms, full=full)


def _offset_histogram(candidates):
    """(host, dt, n): how many unambiguous candidates (one event, one connection side) sit at each offset.

    Both counts are local to a partition of addresses (an event and a connection side each have one local
    address), so the histograms of the partitions add up to the whole one."""
    per_event = candidates.group_by("e_id").aggregate(k=candidates.count())
    per_conn = candidates.group_by(["uid", "e_side"]).aggregate(k=candidates.count())
    unique = candidates.semi_join(per_event.filter(per_event.k == 1), "e_id")
    unique = unique.semi_join(per_conn.filter(per_conn.k == 1), ["uid", "e_side"])
    return unique.group_by(["e_host", "dt"]).aggregate(n=unique.count())


def _medians(histogram: list[dict]) -> dict[str, int]:
    """The clock offset (ms) of each host: the median ``dt`` of histogram rows ``{e_host, dt, n}`` (a host's
    rows may repeat a ``dt``: the histograms of several partitions)."""
    counts: dict[str, list[tuple[int, int]]] = {}
    for row in histogram:
        counts.setdefault(row["e_host"], []).append((row["dt"], row["n"]))
    offsets = {}
    for host, pairs in counts.items():
        pairs.sort()
        total, run = sum(n for _, n in pairs), 0
        for value, n in pairs:
            run += n
            if 2 * run >= total:
                offsets[host] = int(value)
                break
    return offsets


def attribute(engine: Engine, window: Window | None = None, params: JoinParams | None = None,
              shifts: dict[str, int] | None = None) -> pa.Table | None:
    """The ``net.conn_proc`` rows for connections starting in ``window`` (None when either side is missing).

    ``shifts`` are per-host coarse clock offsets from :func:`sensor_shifts` (computed when not given).
    """
    parts = attribution(engine, window, params, shifts)
    return None if parts is None else fetch(parts[0])


def attribution(engine: Engine, window: Window | None = None, params: JoinParams | None = None,
                shifts: dict[str, int] | None = None, partitions: int = 1) -> list | None:
    """:func:`attribute` as unexecuted engine queries, one per partition of the instrumented addresses (each
    ordered by time, uid, side; together they are the whole result), for streaming a large day.

    A connection side and the endpoint events that can describe it share one local address, so every
    step of the join (candidates, uniqueness, ranking, unmatched sides) stays within a partition; only the
    clock offsets span partitions, and they are added up from each partition's histogram first. With
    ``partitions`` > 1 no step holds more than about a ``1/partitions`` share of the candidate pairs. The
    host addresses and offsets are computed (small results) on the way.
    """
    params = params or JoinParams.from_config()
    window = window or Window()
    if engine.table("proc.net") is None or engine.table("net.conn") is None:
        return None
    import datetime as dt

    shifts = sensor_shifts(engine, params) if shifts is None else shifts
    pad = dt.timedelta(seconds=params.search_window + params.tolerance)
    wide = Window(window.since - pad if window.since else None, window.until + pad if window.until else None)
    events = _events(engine, wide, shifts, int(pad.total_seconds() * 1000))
    conns = _conns(engine, window)
    addresses = ibis.memtable(_host_addresses(events, conns, params))  # small: one row per host address
    span = ibis.memtable(fetch(events.group_by("e_host").aggregate(first=events.e_ms.min(), last=events.e_ms.max())))
    search_ms = int(params.search_window * 1000)
    parts = [(index, partitions) for index in range(partitions)]
    histogram = []
    for part in parts:
        histogram += fetch(_offset_histogram(_candidates(events, conns, addresses, search_ms, part))).to_pylist()
    offsets = _medians(histogram)
    offset_table = ibis.memtable(pa.table({"o_host": pa.array(list(offsets), pa.string()),
                                           "offset": pa.array(list(offsets.values()), pa.int64())}))
    out = []
    for part in parts:
        search = _candidates(events, conns, addresses, search_ms, part)
        matched = _matched(search, offset_table, params)
        local = addresses if partitions == 1 else addresses.filter(_partition(addresses.address, part))
        out.append(_with_unmatched(engine, span, conns, local, matched, params))
    return out


def _matched(search, offset_table, params: JoinParams):
    """The best event of each connection side within the tolerance of its host's clock offset, and its quality."""
    cand = search.left_join(offset_table, search.e_host == offset_table.o_host)
    cand = cand.select(*[search[c] for c in search.columns], offset=ibis.coalesce(offset_table.offset, 0))
    cand = cand.mutate(err=(cand.dt - cand.offset).abs())
    cand = cand.filter(cand.err <= int(params.tolerance * 1000))
    by_conn = ibis.window(group_by=["uid", "e_side"], order_by=["err", "e_id"])
    by_event = ibis.window(group_by="e_id", order_by=["err", "uid"])
    processes = cand.group_by(["uid", "e_side"]).aggregate(processes=cand.e_proc.nunique())
    ranked = cand.mutate(conn_rank=ibis.row_number().over(by_conn), event_rank=ibis.row_number().over(by_event))
    ranked = ranked.join(processes, ["uid", "e_side"])
    best = ranked.filter(ranked.conn_rank == 0)
    quality = ibis.cases(
        (best.processes > 1, "ambiguous"),
        (best.full & (best.event_rank == 0) & ((best.dt + best.e_shift).abs() <= int(params.exact_within * 1000)),
         "exact"),
        else_="skew",
    )
    return best.select(
        "uid", "e_side", host=best.e_host, pid=best.e_pid, process_guid=best.e_proc, image=best.e_image,
        user=best.e_user, match=quality, skew_s=(best.dt + best.e_shift).cast("float64") / 1000.0,
        candidates=best.processes,
    )


def _with_unmatched(engine: Engine, span, conns, addresses, matched, params: JoinParams):
    """Add connection sides at instrumented addresses with no match, then the command lines. ``span`` is each
    host's first and last (clock-corrected) event time."""
    addr = addresses.join(span, addresses.host == span.e_host).select("host", "address", "first", "last")
    slack = int((params.search_window + params.tolerance) * 1000)
    sides = []
    for side, column in (("src", "src_ip"), ("dst", "dst_ip")):
        at = conns.join(addr, [conns[column] == addr.address, conns.c_ms >= addr.first - slack,
                               conns.c_ms <= addr.last + slack])
        sides.append(at.select("uid", "host", e_side=ibis.literal(side)))
    instrumented = sides[0].union(sides[1], distinct=True)
    missing = instrumented.anti_join(matched, ["uid", "e_side"])
    unmatched = missing.select(
        "uid", "e_side", "host", pid=ibis.null("int64"), process_guid=ibis.null("string"),
        image=ibis.null("string"), user=ibis.null("string"), match=ibis.literal("unmatched"),
        skew_s=ibis.null("float64"), candidates=ibis.literal(0).cast("int64"),
    )
    rows = matched.mutate(candidates=matched.candidates.cast("int64")).union(unmatched)
    joined = rows.join(conns, "uid")
    out = joined.select(
        ts=joined.c_ts, uid=joined.uid, src_ip=joined.src_ip, src_port=joined.src_port, dst_ip=joined.dst_ip,
        dst_port=joined.dst_port, proto=joined.c_proto, src_bytes=joined.src_bytes, dst_bytes=joined.dst_bytes,
        side=joined.e_side, host=joined.host, pid=joined.pid, process_guid=joined.process_guid,
        image=joined.image, user=joined.user, match=joined.match, skew_s=joined.skew_s,
        candidates=joined.candidates,
    )
    execs = engine.table("proc.exec")
    if execs is not None:
        out = _with_exec(out, execs)
    else:
        out = out.mutate(command_line=ibis.null("string"))
    return out.order_by(["ts", "uid", "side"])


def _with_exec(out, execs):
    """Command lines from proc.exec: by process_guid (Sysmon), else the latest start of (host, pid) before the
    connection (auditd: its connect records name no process instance), which also supplies the process_guid."""
    starts = execs.filter(execs.process_guid.notnull() & execs.command_line.notnull()
                          & (execs.action.isnull() | (execs.action == "start")))
    by_guid = starts.group_by("process_guid").aggregate(command_line=starts.command_line.max())
    out = out.left_join(by_guid, "process_guid").select(*[out[c] for c in out.columns], by_guid.command_line)
    fallback = starts.filter(starts.host.notnull() & starts.pid.notnull()).select(
        x_host=starts.host, x_pid=starts.pid, x_ms=_ms(starts.ts), x_guid=starts.process_guid,
        x_cmd=starts.command_line)
    open_ = out.filter(out.command_line.isnull() & out.pid.notnull()).select(
        "uid", "side", o_host=out.host, o_pid=out.pid,
        o_ms=_ms(out.ts) + (out.skew_s.fill_null(0.0) * 1000).round().cast("int64"))
    fits = open_.join(fallback, [open_.o_host == fallback.x_host, open_.o_pid == fallback.x_pid,
                                 fallback.x_ms <= open_.o_ms])
    fits = fits.mutate(rank=ibis.row_number().over(group_by=["uid", "side"],
                                                    order_by=[ibis.desc("x_ms"), "x_guid"]))
    best = fits.filter(fits["rank"] == 0).select("uid", "side", "x_guid", "x_cmd")
    joined = out.left_join(best, ["uid", "side"])
    columns = [joined[c] for c in out.columns if c not in ("process_guid", "command_line")]
    return joined.select(*columns, process_guid=ibis.coalesce(joined.x_guid, joined.process_guid),
                         command_line=ibis.coalesce(joined.command_line, joined.x_cmd))
