"""The scaling chart of bench/RESULTS.md as a self-contained SVG (no plotting library).

One panel per dataset size: achieved examples/s against concurrency for Sigil and DSPy,
and the ideal (concurrency / 20 ms), on log-log axes.
"""
import math

W, H = 300, 260  # one panel
ML, MR, MT, MB = 58, 12, 34, 44
COLORS = {"ideal": "#888888", "sigil": "#1f77b4", "dspy": "#ff7f0e"}


def _fmt(v):
    return f"{v:,.0f}" if v >= 10 else f"{v:g}"


def scaling_svg(sigil, dspy, latency_s=0.020):
    """sigil, dspy: {(examples, concurrency): row with wall_s}."""
    sizes = sorted({n for n, _ in list(sigil) + list(dspy)})
    concs = sorted({c for _, c in list(sigil) + list(dspy)})
    rates = [n / r["wall_s"] for src in (sigil, dspy) for (n, _), r in src.items()]
    rates += [c / latency_s for c in concs]
    ylo = 10 ** math.floor(math.log10(max(min(rates), 1e-3)))
    yhi = 10 ** math.ceil(math.log10(max(rates)))
    xlo, xhi = math.log10(min(concs)), math.log10(max(concs))
    if xhi == xlo:
        xhi = xlo + 1
    total_w = W * len(sizes)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{H + 30}" '
        f'viewBox="0 0 {total_w} {H + 30}" font-family="sans-serif" font-size="11">',
        f'<rect width="{total_w}" height="{H + 30}" fill="white"/>',
    ]

    def xy(i, c, rate):
        x0 = i * W + ML
        pw, ph = W - ML - MR, H - MT - MB
        x = x0 + (math.log10(c) - xlo) / (xhi - xlo) * pw
        y = MT + ph - (math.log10(rate) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) * ph
        return x, y

    for i, n in enumerate(sizes):
        x0, pw, ph = i * W + ML, W - ML - MR, H - MT - MB
        out.append(f'<text x="{x0 + pw / 2}" y="18" text-anchor="middle" font-size="13">{n:,} examples</text>')
        out.append(f'<rect x="{x0}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
        decade = ylo
        while decade <= yhi * 1.0001:
            _, y = xy(i, concs[0], decade)
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(decade)}</text>')
            decade *= 10
        for c in concs:
            x, _ = xy(i, c, ylo)
            out.append(f'<text x="{x:.1f}" y="{MT + ph + 14}" text-anchor="middle">{c}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{MT + ph + 30}" text-anchor="middle">concurrency</text>')
        if i == 0:
            out.append(f'<text transform="translate(14 {MT + ph / 2}) rotate(-90)" text-anchor="middle">examples / s (log)</text>')
        series = [
            ("ideal", {c: c / latency_s for c in concs}, "6 4"),
            ("sigil", {c: n / r["wall_s"] for (m, c), r in sigil.items() if m == n}, ""),
            ("dspy", {c: n / r["wall_s"] for (m, c), r in dspy.items() if m == n}, ""),
        ]
        for name, pts, dash in series:
            coords = [xy(i, c, pts[c]) for c in concs if c in pts]
            if not coords:
                continue
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[name]}" stroke-width="2"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            for x, y in coords:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLORS[name]}"/>')
    lx = 10
    for name, label in [("ideal", "ideal (concurrency / 20 ms)"), ("sigil", "Sigil Evaluate"), ("dspy", "DSPy 3.4.1 Evaluate")]:
        out.append(f'<line x1="{lx}" y1="{H + 14}" x2="{lx + 24}" y2="{H + 14}" stroke="{COLORS[name]}" stroke-width="2"'
                   + (' stroke-dasharray="6 4"' if name == "ideal" else "") + "/>")
        out.append(f'<text x="{lx + 30}" y="{H + 18}">{label}</text>')
        lx += 40 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out) + "\n"
