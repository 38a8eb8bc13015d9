"""Draw the benchmark results as one PNG of bar charts: bench/results/chart.png.

    python bench/chart.py

Reads the JSON that the bench scripts wrote to bench/results/ (whichever exist):
resize throughput per tool, three sizes from each photo per way and corpus,
CPU-bound throughput per worker count, and numeric items/s per script. Pillow's
ImageDraw only: no plotting library needed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from common import RESULTS, read_results, rel

WIDTH, LABEL_W, BAR_H, GAP, PAD = 1100, 360, 22, 8, 24
FLOW_COLOUR, OTHER_COLOUR, MISSING = (46, 125, 50), (120, 144, 156), (200, 200, 200)
INK, MUTED, BG = (33, 33, 33), (110, 110, 110), (255, 255, 255)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: not measured; ``note`` says why
    note: str = ""
    flow: bool = False


def font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def resize_bars(doc: dict) -> tuple[str, list[Bar]]:
    bars = [Bar(t["label"], t["images_per_s"], (t["error"] or "")[:70], t["key"] == "flow")
            for t in doc.get("tools", [])]
    bars.sort(key=lambda b: -(b.value or 0))
    return (f"Resize to 256 px, JPEG q85: images/s ({doc.get('photos')} photos, "
            f"{doc.get('workers')} workers; higher is better)", bars)


def tree_bars(doc: dict) -> tuple[str, list[Bar]]:
    bars = [Bar(f"{corpus} ({c['photos']}): {way}", c["photos"] / secs,
                flow=way.startswith("flow"))
            for corpus, c in doc.get("corpora", {}).items()
            for way, secs in c.get("seconds", {}).items() if secs]
    return "Three sizes (1600, 800, 256 px) of each photo: photos/s (higher is better)", bars


def scaling_bars(doc: dict) -> tuple[str, list[Bar]]:
    bars = [Bar(r["label"], r["items_per_s"], (r["error"] or "")[:70], r["kind"] == "flow")
            for r in doc.get("rows", [])]
    return (f"CPU-bound step (~5 ms/item): items/s per worker count "
            f"({doc.get('items')} items; higher is better)", bars)


def numeric_bars(doc: dict) -> tuple[str, list[Bar]]:
    bars = [Bar(f"{r['key']} (N = {r['n']:,})",
                r["n"] / r["median_s"] / 1e6 if r.get("median_s") else None,
                (r["error"] or "")[:70], r["key"] == "flow")
            for r in doc.get("scripts", [])]
    return "Squares of range(N) summed: million items/s (higher is better)", bars


def panel_height(bars: Sequence[Bar]) -> int:
    return 34 + len(bars) * (BAR_H + GAP) + PAD


def draw_panel(draw, top: int, title: str, bars: Sequence[Bar]) -> int:
    """One horizontal bar chart from ``top``; returns the y below it."""
    draw.text((PAD, top), title, fill=INK, font=font(16))
    y = top + 34
    peak = max((b.value for b in bars if b.value), default=1.0)
    span = WIDTH - LABEL_W - PAD - 90  # room for the value after the bar
    small = font(13)
    for b in bars:
        draw.text((PAD, y + 4), b.label[:48], fill=INK, font=small)
        x0 = LABEL_W
        if b.value:
            x1 = x0 + max(2, int(span * b.value / peak))
            draw.rectangle([x0, y, x1, y + BAR_H], fill=FLOW_COLOUR if b.flow else OTHER_COLOUR)
            text = f"{b.value:,.0f}" if b.value >= 100 else f"{b.value:.1f}"
            draw.text((x1 + 6, y + 4), text, fill=INK, font=small)
        else:
            draw.rectangle([x0, y, x0 + 6, y + BAR_H], fill=MISSING)
            draw.text((x0 + 14, y + 4), b.note or "not measured", fill=MUTED, font=small)
        y += BAR_H + GAP
    return y + PAD


def main(argv: list[str] | None = None) -> int:
    from PIL import Image, ImageDraw

    panels = []
    for name, make in (("resize", resize_bars), ("tree", tree_bars),
                       ("scaling", scaling_bars), ("numeric", numeric_bars)):
        doc = read_results(name)
        if doc is not None:
            title, bars = make(doc)
            if bars:
                panels.append((title, bars, doc))
    if not panels:
        print(f"no results in {rel(RESULTS)}: run the bench scripts first", file=sys.stderr)
        return 1
    machine = panels[0][2].get("machine", {})
    height = 70 + sum(panel_height(bars) for _, bars, _ in panels)
    img = Image.new("RGB", (WIDTH, height), BG)
    draw = ImageDraw.Draw(img)
    draw.text((PAD, PAD), "flow benchmarks", fill=INK, font=font(20))
    draw.text((PAD + 190, PAD + 5),
              f"{machine.get('cores')} cores, {machine.get('cpu')}, {machine.get('ram_gib')} GiB "
              f"RAM, Python {machine.get('python')}; green: flow", fill=MUTED, font=font(13))
    y = 70
    for title, bars, _ in panels:
        y = draw_panel(draw, y, title, bars)
    out = RESULTS / "chart.png"
    img.save(out, optimize=True)
    print(f"chart: {rel(out)} ({', '.join(t.split(':')[0] for t, _, _ in panels)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
