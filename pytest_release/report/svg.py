"""Small self-contained SVG charts (no plotting library, every label escaped)."""
from __future__ import annotations

from html import escape


def latency_distribution(points: list[tuple[str, float]], *, threshold: float | None,
                         threshold_label: str, unit: str = "ms", title: str) -> str:
    """Bars of latency percentiles with the threshold drawn as a red line."""
    width, height, left, bottom, top = 560, 240, 56, 36, 30
    peak = max([v for _, v in points] + [threshold or 0.0, 1e-9]) * 1.15
    plot_h = height - bottom - top
    bar_w = (width - left - 20) / max(len(points), 1)

    def y(value: float) -> float:
        return top + plot_h - (value / peak) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica,Arial,sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
    ]
    for i in range(5):
        value = peak * i / 4
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
                     f'{value:.3g}</text>')
    for i, (label, value) in enumerate(points):
        x = left + 10 + i * bar_w
        over = threshold is not None and value >= threshold
        parts.append(
            f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w * 0.7:.1f}" '
            f'height="{top + plot_h - y(value):.1f}" fill="{"#c62828" if over else "#1565c0"}">'
            f"<title>{escape(label)}: {value:.4g} {escape(unit)}</title></rect>"
        )
        parts.append(f'<text x="{x + bar_w * 0.35:.1f}" y="{top + plot_h + 14}" '
                     f'text-anchor="middle">{escape(label)}</text>')
        parts.append(f'<text x="{x + bar_w * 0.35:.1f}" y="{y(value) - 3:.1f}" '
                     f'text-anchor="middle">{value:.3g}</text>')
    if threshold is not None:
        parts.append(f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - 10}" '
                     f'y2="{y(threshold):.1f}" stroke="#c62828" stroke-dasharray="5,3"/>')
        parts.append(f'<text x="{width - 12}" y="{y(threshold) - 4:.1f}" text-anchor="end" '
                     f'fill="#c62828">{escape(threshold_label)}</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 {top + plot_h / 2})"'
                 f' text-anchor="middle">{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)
