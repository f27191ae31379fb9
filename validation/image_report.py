"""`report.html` for an image version: the image gate's evidence on one self-contained page.

Every check with its observed value and threshold; a grid of synthetic
samples per class; the judge's per-class label faithfulness; the
nearest-training-image distance histograms (synthetic vs real holdout) with
the near-copy threshold, and the flagged synthetic images themselves; for a
VAE, a latent interpolation grid. Images are PNGs embedded as data URIs and
plots inline SVG: no JavaScript, no CDN, opens offline.

Only synthetic images are shown. Real training images never appear on the
page (it is published with the data), so a flagged near-copy is shown
without the training image it is close to.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from validation.gate import GateReport
from validation.report import check_table

HOLDOUT, SYNTH = "#4c72b0", "#dd8452"
_TARGET_PX = 40  # each image is enlarged (nearest neighbour) to about this many pixels


def image_grid_png(rows: list[np.ndarray], scale: int | None = None, gap: int = 2) -> bytes:
    """A PNG of images laid out in rows (each row uint8 (k, H, W, C)), enlarged `scale`× with `gap` px between."""
    from PIL import Image

    height, width, channels = next(r for r in rows if len(r)).shape[1:]
    scale = scale or max(1, _TARGET_PX // max(height, width))
    columns = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (height + gap) + gap, columns * (width + gap) + gap, channels), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = gap + i * (height + gap), gap + j * (width + gap)
            canvas[top : top + height, left : left + width] = image
    picture = Image.fromarray(canvas[..., 0] if channels == 1 else canvas)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _captioned_rows(rows: list[tuple[str, np.ndarray]]) -> str:
    """A table with one (caption, image strip) row per entry, all strips at the same scale."""
    height, width = next(images for _, images in rows if len(images)).shape[1:3]
    scale = max(1, _TARGET_PX // max(height, width))
    cells = "".join(f"<tr><td class=lab>{_e(caption)}</td>"
                    f"<td>{_img(image_grid_png([images], scale=scale), caption)}</td></tr>"
                    for caption, images in rows if len(images))
    return f"<table class=strips>{cells}</table>"


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _e(value: Any) -> str:
    return html.escape(str(value))


def write_image_report(
    path: str | Path,
    report: GateReport,
    synthetic_images: np.ndarray,
    synthetic_labels: np.ndarray,
    class_names: list[str],
    *,
    title: str,
    subtitle: str = "",
    per_class: int = 10,
    interpolation: list[tuple[str, np.ndarray]] | None = None,
    seed: int = 0,
) -> Path:
    """Write the page to `path` and return it.

    `interpolation`, when given, is one (caption, uint8 (steps, H, W, C)) row per
    interpolation, e.g. from `ConvVAE.interpolate`.
    """
    rng = np.random.default_rng(seed)
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.failed)} required checks failed)"
    samples = []
    for c in range(len(class_names)):
        members = np.flatnonzero(np.asarray(synthetic_labels) == c)
        samples.append(synthetic_images[np.sort(rng.choice(members, min(per_class, len(members)), replace=False))])
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=sub>{_e(subtitle)}</p>" if subtitle else "",
        f"<p class='verdict {'ok' if report.passed else 'bad'}'>Gate {verdict} &middot; {len(report.checks)} checks "
        f"in {report.seconds:.1f} s &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
        "<h2>Checks</h2>",
        check_table(report),
        "<p class=note>The judge is a small CNN trained on the real training images. Its Fréchet distance uses its own "
        "standardised features: it is <b>not Inception-FID</b> and compares generators on this dataset only; the "
        "<i>frechet_floor</i> row is the same distance between two halves of the real test images.</p>",
        "<h2>Synthetic samples, one row per class</h2>",
        _captioned_rows([(class_names[c], samples[c]) for c in range(len(class_names))]),
        _faithfulness_section(report.details.get("faithfulness")),
        _memorisation_section(report.details.get("memorisation"), synthetic_images),
        _interpolation_section(interpolation),
    ]
    page = _PAGE.format(title=_e(title), body="\n".join(body))
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _faithfulness_section(faithfulness: dict | None) -> str:
    if not faithfulness:
        return ""
    per_class = faithfulness["per_class"]
    width, bar_h = 360, 16
    parts = [f"<svg width={width + 160} height={bar_h * len(per_class) + 24} role=img>"]
    for i, (name, share) in enumerate(per_class.items()):
        y = i * bar_h + 4
        parts.append(f"<text class=t x=0 y={y + 11}>{_e(str(name)[:18])}</text>"
                     f"<rect x=120 y={y} width={share * width:.1f} height={bar_h - 3} fill='{SYNTH}'/>"
                     f"<text class=t x={124 + share * width:.1f} y={y + 11}>{share:.0%}</text>")
    line = 120 + faithfulness["judge_accuracy"] * width
    parts.append(f"<line x1={line:.1f} x2={line:.1f} y1=0 y2={bar_h * len(per_class) + 4} "
                 f"stroke='{HOLDOUT}' stroke-dasharray='4 3'/>")
    parts.append("</svg>")
    return ("<h2>Label faithfulness per class</h2><p class=note>Share of each class's synthetic images the judge "
            f"classifies as that class. Dashed line: the judge's accuracy on real test images "
            f"({faithfulness['judge_accuracy']:.1%}), about the best a generator can score.</p>" + "".join(parts))


def _memorisation_section(memorisation: dict | None, synthetic_images: np.ndarray) -> str:
    if not memorisation:
        return ""
    hist = memorisation["histogram"]
    edges = np.asarray(hist["edges"])
    synth = np.asarray(hist["synthetic_to_training"], dtype=float)
    holdout = np.asarray(hist["holdout_to_training"], dtype=float)
    synth, holdout = synth / max(synth.sum(), 1), holdout / max(holdout.sum(), 1)
    width, height, bins = 640, 180, len(synth)
    top = max(synth.max(), holdout.max(), 1e-9)
    step = width / bins
    parts = [f"<svg width={width + 10} height={height + 30} role=img>"]
    for i in range(bins):
        for k, (share, colour) in enumerate(((holdout[i], HOLDOUT), (synth[i], SYNTH))):
            h = share / top * height
            parts.append(f"<rect x={i * step + k * step / 2:.1f} y={height - h:.1f} width={step / 2 - 0.5:.1f} "
                         f"height={h:.1f} fill='{colour}'/>")
    x = (memorisation["threshold"] - edges[0]) / max(edges[-1] - edges[0], 1e-12) * width
    parts.append(f"<line x1={x:.1f} x2={x:.1f} y1=0 y2={height} stroke='#c00' stroke-dasharray='4 3'/>")
    parts.append(f"<text class=t x=0 y={height + 14}>{edges[0]:.3f}</text>"
                 f"<text class=t x={width - 40} y={height + 14}>{edges[-1]:.3f}</text>"
                 f"<text class=t x={max(x - 30, 0):.1f} y={height + 26}>"
                 f"near-copy threshold {memorisation['threshold']:.4f}</text>")
    parts.append("</svg>")
    flagged = memorisation.get("flagged") or []
    gallery = (f"<p>{len(flagged)} flagged synthetic image(s), closest first (the training images they are near are "
               "not shown: this page is published):</p>"
               + _img(image_grid_png([synthetic_images[flagged[i : i + 16]] for i in range(0, len(flagged), 16)]),
                      "flagged near-copies")
               if flagged else "<p>No synthetic image is a near-copy.</p>")
    return ("<h2>Memorisation</h2><p class=note>Root-mean-square pixel distance (0 to 1) from each image to its "
            f"nearest real training image: <span style='color:{SYNTH}'>&#9632; synthetic images</span> and "
            f"<span style='color:{HOLDOUT}'>&#9632; real holdout images</span> the generator never saw. Synthetic "
            "images left of the red line are flagged as near-copies. A generator that memorised its training images "
            "piles its bars up at 0.</p>" + "".join(parts) + gallery)


def _interpolation_section(interpolation: list[tuple[str, np.ndarray]] | None) -> str:
    if not interpolation:
        return ""
    return ("<h2>Latent interpolation</h2><p class=note>Each row decodes evenly spaced points on the straight line "
            "between two latent codes drawn from the prior (left and right ends); where the caption names two "
            "classes the class vector moves from one to the other as well. Smooth rows mean a smooth latent space.</p>"
            + _captioned_rows(interpolation))


_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>
body{{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}}
h1{{margin-bottom:0}} .sub{{color:#555;margin-top:.2em}}
.verdict{{font-weight:600;padding:.5em .8em;border-radius:4px;display:inline-block}}
.verdict.ok{{background:#e3f4e1}} .verdict.bad{{background:#fbe3e3}}
table{{border-collapse:collapse;width:100%;margin:.5em 0}}
td,th{{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}}
tr.bad td{{background:#fbe3e3}} tr.warn td{{background:#fff6dd}}
.note{{color:#555}} .t{{font-size:10px;fill:#444}}
table.strips{{width:auto}} table.strips td{{border:0;padding:1px 6px;vertical-align:middle}} \
.lab{{font-size:12px;color:#444}}
img{{image-rendering:pixelated}}
</style></head><body>
{body}
</body></html>
"""
