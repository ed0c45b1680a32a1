"""Fixed string tables the simulator draws from: user agents, TLS profiles, histories, statuses.

Every categorical column of the simulated logs is stored as a small integer during generation and
turned into text only when a file is written, by indexing one of these tables (or a table built from
them in `network.py`). Values are copied from real Zeek 6 logs where the shape matters (histories per
connection state, TLS handshake profiles, DNS answer syntax).
"""

from __future__ import annotations

#: Connection states, in the order their codes are used everywhere.
STATES = ("SF", "S0", "REJ", "RSTO", "RSTR", "S1", "OTH", "RSTOS0", "SH")
SF, S0, REJ, RSTO, RSTR, S1, OTH, RSTOS0, SH = range(len(STATES))

#: TCP history strings seen in real logs for each state, with relative weights.
TCP_HISTORIES: dict[int, tuple[tuple[str, float], ...]] = {
    SF: (
        ("ShADadFf", 0.40),
        ("ShADadfF", 0.16),
        ("ShADdaFf", 0.10),
        ("ShADadtFf", 0.08),
        ("ShADadFfR", 0.07),
        ("ShADadfFr", 0.07),
        ("ShADcdaFf", 0.05),
        ("ShADTadttFf", 0.04),
        ("ShADdcaFf", 0.03),
    ),
    S0: (("S", 1.0),),
    REJ: (("Sr", 1.0),),
    RSTO: (("ShADadR", 0.6), ("ShADdaR", 0.25), ("ShADadtR", 0.15)),
    RSTR: (("ShADdar", 0.55), ("ShADadr", 0.30), ("ShADadtfr", 0.15)),
    S1: (("ShADad", 0.7), ("ShADda", 0.3)),
    OTH: (("DdA", 0.5), ("Dd", 0.3), ("Da", 0.2)),
    RSTOS0: (("SR", 1.0),),
    SH: (("ShAFf", 1.0),),
}
#: History used by a SYN scan that resets an answered probe.
SCAN_OPEN_HISTORY = "ShR"
UDP_HISTORY_REPLIED = "Dd"
UDP_HISTORY_ONEWAY = "D"
#: Mid-stream TCP records seen from the server's side (no SYN, first packet from the server: OTH).
RESPONDER_SIDE_HISTORIES = (("DdA", 0.35), ("Dd", 0.2), ("Ad", 0.2), ("DadA", 0.15), ("Da", 0.1))
#: Mid-stream TCP records Zeek flipped (`^`: the first packet came from a likely server port).
FLIPPED_HISTORIES = (("^dA", 0.45), ("^dADa", 0.35), ("^dAa", 0.2))

#: Every history string, indexable by code.
HISTORIES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [h for hs in TCP_HISTORIES.values() for h, _ in hs]
        + [SCAN_OPEN_HISTORY, UDP_HISTORY_REPLIED, UDP_HISTORY_ONEWAY]
        + [h for h, _ in RESPONDER_SIDE_HISTORIES + FLIPPED_HISTORIES]
    )
)
HISTORY_CODE = {h: i for i, h in enumerate(HISTORIES)}

#: Values of conn.log's `service` column.
SERVICES = (
    "-",
    "ssl",
    "http",
    "dns",
    "ntp",
    "krb",
    "krb_tcp",
    "ldap_tcp",
    "ldap_udp",
    "gssapi,smb,krb",
    "smb",
    "krb,smb,gssapi",
    "dce_rpc",
    "dhcp",
)
SERVICE_CODE = {s: i for i, s in enumerate(SERVICES)}

PROTOS = ("tcp", "udp", "icmp")
TCP, UDP, ICMP = range(3)

#: Browsers on workstations: (user agent, JA3 label, share of hosts).
BROWSERS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        "chrome130-win",
        0.46,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
        "edge130-win",
        0.30,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "firefox132-win",
        0.12,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "safari18-mac",
        0.07,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        "chrome130-mac",
        0.05,
    ),
)

#: Non-browser user agents of benign software (agents, updaters).
AGENT_UAS = (
    "Microsoft-CryptoAPI/10.0",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.71",
    "AVAgent/24.6.3 (Windows NT 10.0; x64)",
    "SigUpdater/7.2 (win64)",
    "MonitorAgent/3.14.2",
)

#: User agents planted on HTTP C2 channels: rare in this network, each plausible for malware.
C2_UAS = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0)",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
    "Go-http-client/1.1",
    "python-requests/2.25.1",
    "curl/7.68.0",
)

#: TLS handshakes: (version, cipher, curve, resumed, next_protocol, established, ssl_history, has_certs).
TLS_PROFILES = (
    ("TLSv13", "TLS_AES_128_GCM_SHA256", "x25519", "F", "-", "T", "CsiI", False),
    ("TLSv13", "TLS_AES_256_GCM_SHA384", "x25519", "F", "-", "T", "CsiI", False),
    ("TLSv13", "TLS_AES_128_GCM_SHA256", "x25519", "T", "-", "T", "CsiI", False),
    ("TLSv12", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "x25519", "F", "h2", "T", "CsxuknGIti", True),
    ("TLSv12", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "secp256r1", "F", "h2", "T", "CsxknGIti", True),
    (
        "TLSv12",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "secp256r1",
        "F",
        "http/1.1",
        "T",
        "CsxuknGIti",
        True,
    ),
    ("TLSv12", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "-", "T", "h2", "T", "-", False),
    ("TLSv12", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "secp256r1", "F", "-", "T", "CsxknGIi", True),
    ("-", "-", "-", "F", "-", "F", "C", False),
)
(
    TLS13_NEW,
    TLS13_NEW_256,
    TLS13_RESUMED,
    TLS12_H2,
    TLS12_H2_P256,
    TLS12_H11,
    TLS12_RESUMED,
    TLS12_NO_ALPN,
    TLS_CLIENT_HELLO_ONLY,
) = range(len(TLS_PROFILES))

VALIDATION = ("ok", "self signed certificate", "unable to get local issuer certificate")
VALID_OK, VALID_SELF_SIGNED, VALID_NO_ISSUER = range(3)

#: HTTP statuses: (code, message, weight for browsing).
HTTP_STATUSES = (
    (200, "OK", 0.80),
    (304, "Not Modified", 0.08),
    (301, "Moved Permanently", 0.03),
    (302, "Found", 0.04),
    (404, "Not Found", 0.04),
    (204, "No Content", 0.01),
)
HTTP_METHODS = ("GET", "POST", "HEAD")
MIME_TYPES = (
    "text/html",
    "image/jpeg",
    "image/png",
    "image/gif",
    "application/javascript",
    "text/css",
    "application/json",
    "application/octet-stream",
    "text/plain",
    "application/x-x509-ca-cert",
    "application/ocsp-response",
)

#: URI templates for browsing; `{n}` and `{h}` are filled with numbers and hex when the world is built.
URI_TEMPLATES = (
    "/",
    "/index.html",
    "/favicon.ico",
    "/static/js/main.{h}.js",
    "/static/css/site.{h}.css",
    "/images/{n}.jpg",
    "/img/banner-{n}.png",
    "/api/v2/items?page={n}",
    "/news/{n}/article",
    "/search?q={h}",
    "/assets/app.{h}.js",
    "/products/{n}",
    "/blog/{n}",
    "/pixel.gif?id={h}",
    "/wp-content/uploads/{n}.jpg",
    "/cdn-cgi/trace",
    "/robots.txt",
    "/login",
    "/account/settings",
)

#: Syllables used to build fictional but plausible domain names.
SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "tor",
    "sa",
    "bel",
    "no",
    "dex",
    "qua",
    "lin",
    "mar",
    "zen",
    "po",
    "tri",
    "vo",
    "gal",
    "ner",
    "sol",
    "cu",
    "fi",
    "lex",
    "mo",
    "da",
    "rin",
    "ta",
    "vis",
    "bo",
    "cor",
    "hal",
    "pix",
    "neo",
    "ax",
    "ul",
    "om",
    "ari",
    "tek",
    "wav",
    "lum",
    "gen",
    "flo",
)
TLDS = ("com", "com", "com", "com", "net", "net", "org", "io", "co", "de", "co.uk", "fr", "info")

#: First octets of routable, non-reserved IPv4 space used for simulated internet hosts.
PUBLIC_FIRST_OCTETS = (
    3,
    4,
    8,
    13,
    18,
    20,
    23,
    31,
    34,
    35,
    40,
    44,
    45,
    46,
    50,
    51,
    52,
    54,
    62,
    64,
    66,
    69,
    72,
    74,
    77,
    78,
    80,
    81,
    82,
    85,
    87,
    88,
    91,
    93,
    94,
    95,
    104,
    107,
    108,
    128,
    130,
    132,
    136,
    140,
    141,
    142,
    143,
    146,
    147,
    151,
    152,
    157,
    159,
    162,
    164,
    165,
    176,
    178,
    185,
    188,
    193,
    194,
    195,
    199,
    204,
    205,
    206,
    207,
    208,
    209,
    212,
    213,
    216,
    217,
)

#: Internal DNS suffix of the simulated company.
CORP_DOMAIN = "corp.acme.internal"

#: Zeek DNS qtype codes used by the simulator.
QTYPES = {1: "A", 28: "AAAA", 16: "TXT", 12: "PTR", 33: "SRV", 5: "CNAME"}
RCODES = {0: "NOERROR", 3: "NXDOMAIN", 2: "SERVFAIL"}
