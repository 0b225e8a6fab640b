#!/usr/bin/env python3
"""Draw the peers' paired ratios as an SVG bar chart (docs/ratios.svg).

Usage: scripts/ratios_chart.py SUMMARY.md [OUT.svg]

SUMMARY.md is the Markdown that `../shared/peers/run.sh` (its summarize.py) prints; the chart
reads its "Paired ratios to tokio" table (each peer's figure divided by tokio's from the same
repetition) and draws, for each workload, one bar per runtime: how many times better than tokio
it did, on a log scale, so that "better" always points right whatever the unit (for times and
bytes the ratio is inverted; for throughput and speedup it is kept). No dependencies beyond
Python 3's standard library, so that anyone can regenerate the chart from a new run.
"""
import html
import math
import re
import sys

COLORS = {
    "tokio": "#7f7f7f",
    "may": "#bcbd22",
    "go": "#17becf",
    "gevent": "#9467bd",
    "greenlet": "#2ca02c",
}
HIGHER_IS_BETTER = ("round trips/s", "requests/s", "speedup")


def parse_ratios(text):
    """Return (peers, rows): rows are (label, {peer: median ratio to tokio})."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("## Paired ratios"))
    table = [l for l in lines[start + 1 :] if l.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    peers = header[1:]
    primary = primary_labels(lines)
    rows = []
    for line in table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        label, values = cells[0], {}
        for peer, cell in zip(peers, cells[1:]):
            m = re.match(r"([0-9.]+)", cell)
            if m and float(m.group(1)) > 0:
                values[peer] = float(m.group(1))
        if len(values) > 1 and (not primary or cells[0] in primary):
            rows.append((label.split(" (figure")[0], values))
    return peers, rows


def primary_labels(lines):
    """The row labels of the "Primary figures" table (the chart leaves the secondary ones out)."""
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("## Primary"))
    except StopIteration:
        return set()
    labels = set()
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            labels.add(line.strip("|").split("|")[0].strip())
    return labels


def better_than_tokio(label, ratio):
    return ratio if any(k in label for k in HIGHER_IS_BETTER) else 1.0 / ratio


def draw(peers, rows):
    bar_h, gap, left, width, top = 9, 10, 330, 420, 40
    lo, hi = math.log2(1 / 32), math.log2(8)

    def x(v):
        v = min(max(math.log2(v), lo), hi)
        return left + (v - lo) / (hi - lo) * width

    height = top + len(rows) * (len(peers) * bar_h + gap) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 30}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="16" font-weight="bold">times better than tokio '
        "(log scale; right is better)</text>",
    ]
    for tick in (1 / 32, 1 / 8, 1 / 2, 1, 2, 4, 8):
        tx = x(tick)
        label = f"{tick:g}" if tick >= 1 else f"1/{round(1 / tick)}"
        stroke = "#000" if tick == 1 else "#ddd"
        out.append(f'<line x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{height - 30}" stroke="{stroke}"/>')
        out.append(f'<text x="{tx:.1f}" y="{height - 16}" text-anchor="middle">{label}</text>')
    y = top
    for label, values in rows:
        out.append(f'<text x="{left - 8}" y="{y + len(peers) * bar_h / 2 + 4:.1f}" '
                   f'text-anchor="end">{html.escape(label[:52])}</text>')
        for peer in peers:
            if peer in values:
                v = better_than_tokio(label, values[peer])
                x0, x1 = sorted((x(1), x(v)))
                out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" '
                           f'height="{bar_h - 1}" fill="{COLORS.get(peer, "#1f77b4")}">'
                           f"<title>{peer}: {v:.2f}x</title></rect>")
            y += bar_h
        y += gap
    lx = 10
    for peer in peers:
        out.append(f'<rect x="{lx}" y="{height - 12}" width="10" height="10" fill="{COLORS.get(peer, "#1f77b4")}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 3}">{peer}</text>')
        lx += 80
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: ratios_chart.py SUMMARY.md [OUT.svg]")
    with open(sys.argv[1], encoding="utf-8") as f:
        peers, rows = parse_ratios(f.read())
    if not rows:
        sys.exit(f"{sys.argv[1]}: no 'Paired ratios' table with two or more runtimes in it")
    svg = draw(peers, rows)
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/ratios.svg"
    with open(out, "w", encoding="utf-8") as f:
        f.write(svg)
    print(f"wrote {out}: {len(rows)} workloads, runtimes {', '.join(peers)}")


if __name__ == "__main__":
    main()
