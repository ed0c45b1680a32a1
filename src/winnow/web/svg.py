"""Small inline SVG charts for the self-contained report: nothing fetched, every label escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from winnow.web.render import visible

WIDTH, ROW = 640, 18


def share_bars(items: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars of shares in [0, 1], each with its label."""
    height = ROW * len(items) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img">']
    for i, (label, share) in enumerate(items):
        y = i * ROW + 2
        w = max(1.0, WIDTH * 0.4 * max(0.0, min(1.0, float(share))))
        parts.append(f'<rect x="0" y="{y}" width="{w:.1f}" height="{ROW - 4}" fill="#ef9a9a"/>'
                     f'<text x="{WIDTH * 0.4 + 6:.0f}" y="{y + ROW - 6}" font-size="11">{share:.3f} '
                     f'{escape(visible(label))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(edges: Sequence[float], counts: Sequence[float], xlabel: str) -> Markup:
    """Vertical bars of ``counts`` over bins starting at ``edges``."""
    height, top = 120, max(counts or [1]) or 1
    n = max(len(counts), 1)
    step = WIDTH / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height + 20}" role="img">']
    for i, c in enumerate(counts):
        h = height * c / top
        parts.append(f'<rect x="{i * step:.1f}" y="{height - h:.1f}" width="{max(step - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="#1f77b4"/>')
    last = f"{edges[-1]:.0f}" if edges else ""
    parts.append(f'<text x="0" y="{height + 14}" font-size="11">0</text>'
                 f'<text x="{WIDTH - 4}" y="{height + 14}" font-size="11" text-anchor="end">{escape(last)} '
                 f'{escape(xlabel)}</text></svg>')
    return Markup("".join(parts))


def scatter(xs: Sequence[float], ys: Sequence[float | None], ylabel: str) -> Markup:
    """One dot per (x, y) with y not None (x: seconds since the epoch)."""
    height = 120
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height + 20}" role="img" '
             f'data-points="{len(points)}">']
    if points:
        x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
        y1 = max(p[1] for p in points) or 1
        for x, y in points:
            px = 4 + (WIDTH - 8) * ((x - x0) / (x1 - x0) if x1 > x0 else 0.5)
            parts.append(f'<circle cx="{px:.1f}" cy="{height - height * y / y1 + 2:.1f}" r="1.8" fill="#d62728"/>')
    parts.append(f'<text x="0" y="{height + 16}" font-size="11">{escape(ylabel)}</text></svg>')
    return Markup("".join(parts))
