"""Direct labels: a name written beside each point instead of a legend the eye must match by colour.

Points that crowd (the LoRA family sits at almost the same parameter count) get their labels
moved up or down, in steps of one line, until no label covers another label or a point; a thin
leader line then joins a moved label to its point. The placement works in points (1/72 inch)
from the axes' size, so it holds whatever the figure's layout does afterwards.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

MARKER_RADIUS = 6.0    # points: a label keeps this far from any marker centre
GAP = 7.0              # points between a marker and its label


def text_width(text: str, fontsize: float) -> float:
    """Approximate width in points: a CJK character is one em, other characters about half."""
    return sum(fontsize if ord(ch) > 0x2E80 else 0.56 * fontsize for ch in text)


def readable(c) -> tuple:
    """A method's colour, darkened when it is too light to read as text on white (QLoRA, head only)."""
    r, g, b = to_rgb(c)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    k = 0.55 if luminance > 0.6 else 1.0
    return (r * k, g * k, b * k)


def axes_points(ax: plt.Axes) -> tuple[float, float]:
    """The axes' size in points (from its position in the figure, before layout adjustments)."""
    w, h = ax.figure.get_size_inches()
    pos = ax.get_position()
    return w * 72 * pos.width, h * 72 * pos.height


_axes_points = axes_points   # the name other modules used before it was public


def direct_labels(ax: plt.Axes, xs, ys, texts, colors, fontsize: float = 10.5, yerr=None, sides=None) -> list:
    """Write ``texts[i]`` beside the point (xs[i], ys[i]) in ``colors[i]``, right of it where it
    fits, left otherwise, moved vertically until it overlaps nothing -- no other label, no
    marker and no error bar (``yerr[i]``: half-height of point i's bar). Call it after the axes'
    scales and limits are final. ``sides[i]``: "left" puts label i left of its point where it
    fits (default: right where it fits). Returns the annotations."""
    sides = list(sides) if sides is not None else [None] * len(xs)
    if len(sides) != len(xs) or any(side not in (None, "left", "right") for side in sides):
        raise ValueError(f"sides={sides!r} must hold one of None, 'left', 'right' per point ({len(xs)} points)")
    W, H = axes_points(ax)
    to_frac = ax.transScale + ax.transLimits
    pts = np.array([to_frac.transform((x, y)) for x, y in zip(xs, ys)]) * [W, H]
    yerr = list(yerr) if yerr is not None else [0.0] * len(xs)
    bars = [(px, lo[1] * H, hi[1] * H) for px, (x, y, e) in zip(pts[:, 0], zip(xs, ys, yerr)) if e
            for lo, hi in [(to_frac.transform((x, y - e)), to_frac.transform((x, y + e)))]]
    line = 1.25 * fontsize
    placed: list[tuple[float, float, float, float]] = []   # (x0, y0, x1, y1) in points
    order = np.argsort(-pts[:, 1])                          # top first: crowds unfold downwards
    out = [None] * len(texts)
    for i in order:
        px, py = pts[i]
        w = text_width(texts[i], fontsize)
        fits_right, fits_left = px + GAP + w <= W, px - GAP - w >= 0
        right = fits_right and not (sides[i] == "left" and fits_left)
        x0 = px + GAP if right else px - GAP - w
        best = None
        # first look nearby for a place clear of error bars too; a far-flung label is worse than
        # one that crosses a bar, so further away only labels and markers count
        for steps, avoid_bars in ((8, True), (40, False)):
            for k in range(steps):
                dy = (k + 1) // 2 * line * (1 if k % 2 else -1)
                y0 = py + dy - line / 2
                box = (x0, y0, x0 + w, y0 + line)
                clash = any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in placed)
                clash = clash or any(box[0] - MARKER_RADIUS < qx < box[2] + MARKER_RADIUS and
                                     box[1] - MARKER_RADIUS < qy < box[3] + MARKER_RADIUS
                                     for j, (qx, qy) in enumerate(pts) if j != i)
                clash = clash or (avoid_bars and any(box[0] - 3 < bx < box[2] + 3 and lo < box[3] and hi > box[1]
                                                     for bx, lo, hi in bars))
                if not clash and 0 <= y0 and y0 + line <= H:
                    best = (dy, box)
                    break
            if best is not None:
                break
        dy, box = best if best is not None else (0.0, (x0, py - line / 2, x0 + w, py + line / 2))
        placed.append(box)
        moved = abs(dy) > 0.5 * line
        out[i] = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(x0 - px + (0 if right else w), dy),
                             textcoords="offset points", ha="left" if right else "right", va="center",
                             fontsize=fontsize, color=readable(colors[i]),
                             arrowprops=dict(arrowstyle="-", color=colors[i], linewidth=0.8, shrinkA=0, shrinkB=4)
                             if moved else None)
    return out
