"""`report.html`: the gate's evidence on one self-contained page a person reads.

Every check with its observed value and threshold, then plots drawn as
inline SVG (no JavaScript, no CDN, opens offline and in any mail client):
real vs synthetic marginals for every column, the difference between the
real and synthetic association matrices, and the DCR histograms (synthetic
rows' distance to the closest training row versus the closest holdout row).
"""

from __future__ import annotations

import html
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.encoding import MAX_CATEGORIES, frequent_values
from validation.gate import GateReport

REAL, SYNTH = "#4c72b0", "#dd8452"
_W, _H = 320, 150  # one marginal plot
_MAX_CATEGORIES = 12
_PLOT_ROWS = 20_000  # rows per table used for the plots (stated on the page)


def write_report(
    path: str | Path,
    report: GateReport,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    title: str,
    subtitle: str = "",
    seed: int = 0,
) -> Path:
    """Write the page to `path` and return it."""
    real_s = real.sample(_PLOT_ROWS, random_state=seed) if len(real) > _PLOT_ROWS else real
    synth_s = synthetic.sample(_PLOT_ROWS, random_state=seed) if len(synthetic) > _PLOT_ROWS else synthetic
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.failed)} required checks failed)"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=sub>{_e(subtitle)}</p>" if subtitle else "",
        f"<p class='verdict {'ok' if report.passed else 'bad'}'>Gate {verdict} &middot; {len(report.checks)} checks "
        f"in {report.seconds:.1f} s &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
        _scorecard(report),
        _next_steps(report),
        _column_detection(report.details.get("column_detection") or []),
        "<h2>Checks</h2>",
        check_table(report, collapse_passed_schema=True),
        _scored(report.details.get("scored") or {}),
        _per_column_scores(report.details.get("quality", {})),
        _pair_trend_scores(report.details.get("quality", {})),
        "<h2>Real vs synthetic, column by column</h2>",
        f"<p class=note>Histograms (numbers, dates) and category shares (others), on up to {_PLOT_ROWS:,} rows of each "
        f"table (here {len(real_s):,} real, {len(synth_s):,} synthetic). "
        f"<span style='color:{REAL}'>&#9632; real</span> <span style='color:{SYNTH}'>&#9632; synthetic</span></p>",
        "<div class=grid>"
        + "".join(_marginal(c, real_s[c], synth_s[c]) for c in real.columns if c in synth_s)
        + "</div>",
        "<h2>Association difference</h2>",
        "<p class=note>|real &minus; synthetic| association for every pair of columns: Pearson correlation between "
        "two numeric columns, Cramér's V otherwise (numbers cut into 10 quantile bins). White: the synthetic table "
        "keeps the relationship; dark: it does not.</p>",
        _association_heatmap(real_s, synth_s[[c for c in real.columns if c in synth_s]]),
        _dcr_section(report.details.get("distances")),
    ]
    page = _PAGE.format(title=_e(title), body="\n".join(body))
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _e(value: Any) -> str:
    return html.escape(str(value))


def _scorecard(report: GateReport) -> str:
    """The page's lead: each suite's verdict, then the headline figures beside their thresholds."""
    suites = []
    for suite in dict.fromkeys(c.suite for c in report.checks):
        checks = [c for c in report.checks if c.suite == suite]
        bad = [c for c in checks if c.required and not c.passed]
        suites.append(f"<td class={'bad' if bad else 'ok'}><b>{_e(suite)}</b><br>"
                      f"{'FAIL' if bad else 'pass'} &middot; {sum(c.passed for c in checks)} of {len(checks)}</td>")
    # the utility ratio is of R² for a regression target and of macro-F1 for a classification one: say which
    metric = (report.details.get("utility") or {}).get("metric")
    figures = "".join(
        f"<tr class={'ok' if c.passed else ('bad' if c.required else 'warn')}><td>{_e(c.suite)}</td>"
        f"<td>{_e(c.name)}{_e(f' ({metric})') if metric and c.name == 'tstr_trtr_ratio' else ''}</td>"
        f"<td><b>{_e(c.value)}</b></td><td>{_e(c.requirement)}</td></tr>"
        for c in report.checks if c.suite != "schema")
    return (f"<h2>Scorecard</h2><table class=narrow><tr>{''.join(suites)}</tr></table>"
            "<table class=narrow><tr><th>suite</th><th>figure</th><th>observed</th><th>required</th></tr>"
            f"{figures}</table>")


def _next_steps(report: GateReport) -> str:
    if not report.next_steps:
        return ""
    items = "".join(f"<li>{_e(step)}</li>" for step in report.next_steps)
    return f"<h2>What to try</h2><ul>{items}</ul>"


_DETECTION_SHOWN = 10


def _column_detection(columns: list) -> str:
    """Each column's own real-vs-synthetic detector AUC (validation.diagnosis), most distinguishable first."""
    if not columns:
        return ""
    cells = "".join(f"<tr><td>{_e(c)}</td><td>{auc:.3f}</td></tr>" for c, auc in columns[:_DETECTION_SHOWN])
    more = f" ({len(columns) - _DETECTION_SHOWN} more in gate.json)" if len(columns) > _DETECTION_SHOWN else ""
    return ("<h3>Most distinguishable columns</h3><p class=note>A detector per column, on that column alone "
            "(0.5: it cannot tell real from synthetic rows; 1.0: it tells every row)" + _e(more) + "</p>"
            f"<table class=narrow><tr><th>column</th><th>AUC</th></tr>{cells}</table>")


def check_table(report: GateReport, collapse_passed_schema: bool = False) -> str:
    """Every check as a table row: suite, name, verdict, observed value, requirement ("at most 0.6"), detail.
    With `collapse_passed_schema`, the schema checks that passed (one per column and property, often dozens)
    fold into one line that opens to show them.

    Shared by the table and the image report."""
    rows = []
    folded = [c for c in report.checks if collapse_passed_schema and c.suite == "schema" and c.passed]
    for c in report.checks:
        if c in folded:
            continue
        status = "pass" if c.passed else ("FAIL" if c.required else "fail (report only)")
        css = "ok" if c.passed else ("bad" if c.required else "warn")
        rows.append(
            f"<tr class={css}><td>{_e(c.suite)}</td><td>{_e(c.name)}</td><td>{status}</td>"
            f"<td>{_e(c.value)}</td><td>{_e(c.requirement)}</td><td>{_e(c.detail)}</td></tr>"
        )
    table = (
        "<table><tr><th>suite</th><th>check</th><th>result</th><th>observed</th><th>required</th><th>detail</th></tr>"
        + "".join(rows) + "</table>"
    )
    if not folded:
        return table
    names = ", ".join(c.name for c in folded)
    return (table + f"<details><summary>{len(folded)} schema checks passed (columns, types, ranges, categories, "
            f"nulls, constraints)</summary><p class=note>{_e(names)}</p></details>")


def _scored(scored: dict[str, str]) -> str:
    """Which rows each group of checks judged: all, or a stated random sample."""
    if not scored:
        return ""
    cells = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in scored.items())
    return f"<h3>What each check scored</h3><table class=narrow><tr><th>checks</th><th>rows</th></tr>{cells}</table>"


def _score(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.3f}"


def _worst_first(value: float | None) -> float:
    return -1.0 if value is None else value  # unscored first: a reader should see it


def _per_column_scores(quality: dict) -> str:
    scores = quality.get("column_shapes") or {}
    if not scores:
        return ""
    cells = "".join(
        f"<tr><td>{_e(k)}</td><td>{_score(v)}</td></tr>"
        for k, v in sorted(scores.items(), key=lambda kv: _worst_first(kv[1]))
    )
    return (
        "<h3>Column shape similarity (sdmetrics; 1 = identical distribution), worst first</h3>"
        f"<table class=narrow><tr><th>column</th><th>score</th></tr>{cells}</table>"
    )


_PAIRS_SHOWN = 12


def _pair_trend_scores(quality: dict) -> str:
    """sdmetrics' per-pair scores, worst first, for the pairs that count toward pair_trends."""
    pairs = quality.get("pair_trends") or []
    if not pairs:
        return ""
    limits = quality.get("pair_thresholds") or {}
    counted = [p for p in pairs if p.get("counted", p["score"] is not None)]
    note = (
        f"sdmetrics scores a pair only where the real rows hold a relationship to keep (|Pearson r| &gt; "
        f"{limits.get('correlation', '?')} between two numbers, association &gt; {limits.get('association', '?')} "
        f"otherwise): {len(counted)} of {len(pairs)} pairs here, and <code>pair_trends</code> is their average. "
        "CorrelationSimilarity = 1 &minus; |real r &minus; synthetic r| / 2; ContingencySimilarity = 1 &minus; total "
        "variation distance of the pair's joint frequencies (numbers binned). The association-difference heatmap "
        "below covers every pair."
    )
    if not counted:
        return f"<h3>Column pair trend similarity (sdmetrics)</h3><p class=note>{note}</p>"
    worst = sorted(counted, key=lambda p: p["score"])[:_PAIRS_SHOWN]

    def figure(value: float | None, signed: bool = False) -> str:
        return "" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")

    cells = "".join(
        f"<tr><td>{_e(' × '.join(p['columns']))}</td><td>{_e(p['metric'])}</td><td>{_score(p['score'])}</td>"
        f"<td>{figure(p.get('real_correlation'), True)}</td><td>{figure(p.get('synthetic_correlation'), True)}</td>"
        f"<td>{figure(p.get('real_association'))}</td></tr>"
        for p in worst
    )
    return (
        f"<h3>Column pair trend similarity (sdmetrics; 1 = same relationship), worst {len(worst)} of the "
        f"{len(counted)} scored pairs</h3><p class=note>{note}</p>"
        "<table class=narrow><tr><th>pair</th><th>metric</th><th>score</th><th>real r</th><th>synthetic r</th>"
        f"<th>real association</th></tr>{cells}</table>"
    )


def _is_numeric(series: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)) or (
        pd.api.types.is_datetime64_any_dtype(series)
    )


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.astype("datetime64[ns]").astype("int64").to_numpy().astype(float)
        return np.where(series.isna(), np.nan, values)
    return pd.to_numeric(series, errors="coerce").astype(float).to_numpy()


def _marginal(column: str, real: pd.Series, synth: pd.Series) -> str:
    if _is_numeric(real):
        r, s = _as_float(real), _as_float(synth)
        r, s = r[~np.isnan(r)], s[~np.isnan(s)]
        if not len(r):
            return ""
        edges = np.histogram_bin_edges(r, bins=30)
        hr = np.histogram(r, edges)[0] / max(len(r), 1)
        hs = np.histogram(np.clip(s, edges[0], edges[-1]), edges)[0] / max(len(s), 1)
        labels = (_fmt(edges[0], real), _fmt(edges[-1], real))
        svg = _bars(hr, hs, labels=labels)
    else:
        r = real.astype("object").where(real.notna(), "(missing)").astype(str)
        s = synth.astype("object").where(synth.notna(), "(missing)").astype(str)
        top = r.value_counts(normalize=True).index[:_MAX_CATEGORIES].tolist()
        pr = r.value_counts(normalize=True).reindex(top, fill_value=0).to_numpy()
        ps = s.value_counts(normalize=True).reindex(top, fill_value=0).to_numpy()
        svg = _bars(pr, ps, names=top)
    return f"<figure><figcaption>{_e(column)}</figcaption>{svg}</figure>"


def _fmt(value: float, series: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(series):
        return str(pd.Timestamp(int(value)).date())
    return f"{value:,.4g}"


def _bars(real: np.ndarray, synth: np.ndarray, *, labels: tuple[str, str] | None = None,
          names: list[str] | None = None) -> str:
    """Side-by-side bars (real, synthetic) per bin or category, scaled to the tallest."""
    n = len(real)
    top = max(real.max(initial=0), synth.max(initial=0)) or 1.0
    base, width = _H - 18, (_W - 10) / n
    parts = [f"<svg width={_W} height={_H} viewBox='0 0 {_W} {_H}' role=img>"]
    for i, (a, b) in enumerate(zip(real, synth, strict=True)):
        x = 5 + i * width
        for j, (v, colour) in enumerate(((a, REAL), (b, SYNTH))):
            h = (base - 4) * v / top
            title = f"{names[i] if names else f'bin {i + 1}'}: {'real' if j == 0 else 'synthetic'} {v:.3%}"
            parts.append(
                f"<rect x={x + j * width / 2:.1f} y={base - h:.1f} width={max(width / 2 - 0.5, 0.5):.1f} "
                f"height={h:.1f} fill='{colour}'><title>{_e(title)}</title></rect>"
            )
    parts.append(f"<line x1=5 y1={base} x2={_W - 5} y2={base} stroke='#999'/>")
    if labels:
        parts.append(f"<text x=5 y={_H - 4} class=t>{_e(labels[0])}</text>")
        parts.append(f"<text x={_W - 5} y={_H - 4} class=t text-anchor=end>{_e(labels[1])}</text>")
    elif names:
        shown = ", ".join(n_[:10] for n_ in names[:4]) + (" …" if len(names) > 4 else "")
        parts.append(f"<text x=5 y={_H - 4} class=t>{_e(shown)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _codes(series: pd.Series) -> np.ndarray:
    """Integer codes for Cramér's V: quantile bins for numbers, categories otherwise (the rarest pooled); missing
    is a code."""
    if _is_numeric(series):
        values = _as_float(series)
        ok = ~np.isnan(values)
        out = np.full(len(values), -1)
        if ok.any():
            edges = np.unique(np.nanquantile(values[ok], np.linspace(0, 1, 11)))
            out[ok] = np.clip(np.searchsorted(edges, values[ok], side="right") - 1, 0, max(len(edges) - 2, 0))
        return out
    # the most frequent values each get a code, missing one more, every other value one shared code:
    # the contingency tables stay (MAX_CATEGORIES + 2)² whatever the cardinality
    kept, _ = frequent_values(series, MAX_CATEGORIES)
    codes = pd.Categorical(series.astype("object"), categories=kept).codes.astype(np.int64)
    codes[(codes < 0) & ~series.isna().to_numpy()] = len(kept) + 1
    codes[series.isna().to_numpy()] = len(kept)
    return codes


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    table = pd.crosstab(a, b).to_numpy().astype(float)
    if min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def association_matrix(table: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Pairwise association, 0..1 in magnitude. Bins come from each table itself."""
    columns = list(reference.columns)
    k = len(columns)
    matrix = np.eye(k)
    codes = {c: _codes(table[c]) for c in columns}
    for i, j in itertools.combinations(range(k), 2):
        a, b = columns[i], columns[j]
        if _is_numeric(reference[a]) and _is_numeric(reference[b]):
            x, y = _as_float(table[a]), _as_float(table[b])
            ok = ~(np.isnan(x) | np.isnan(y))
            value = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 and x[ok].std() and y[ok].std() else 0.0
        else:
            value = _cramers_v(codes[a], codes[b])
        matrix[i, j] = matrix[j, i] = value
    return matrix


def _association_heatmap(real: pd.DataFrame, synth: pd.DataFrame) -> str:
    columns = list(real.columns)
    diff = np.abs(association_matrix(real, real) - association_matrix(synth, real))
    cell, label = 22, 120
    size = label + cell * len(columns) + 10
    parts = [f"<svg width={size} height={size} role=img>"]
    for i, name in enumerate(columns):
        y = label + i * cell
        parts.append(f"<text x={label - 4} y={y + cell * 0.7:.1f} class=t text-anchor=end>{_e(str(name)[:18])}</text>")
        parts.append(
            f"<text transform='translate({label + i * cell + cell * 0.7:.1f},{label - 4}) rotate(-60)' class=t>"
            f"{_e(str(name)[:18])}</text>"
        )
        for j in range(len(columns)):
            v = float(diff[i, j])
            shade = int(255 * (1 - min(v / 0.5, 1.0)))  # 0.5 or more: darkest
            parts.append(
                f"<rect x={label + j * cell} y={y} width={cell - 1} height={cell - 1} fill='rgb(255,{shade},{shade})'>"
                f"<title>{_e(columns[i])} × {_e(columns[j])}: |difference| {v:.3f}</title></rect>"
            )
    parts.append("</svg>")
    worst = sorted(
        ((diff[i, j], columns[i], columns[j]) for i, j in itertools.combinations(range(len(columns)), 2)), reverse=True
    )[:5]
    listing = "; ".join(f"{a} × {b} {v:.2f}" for v, a, b in worst)
    return "".join(parts) + f"<p class=note>Largest differences: {_e(listing)}. Scale: white 0, darkest ≥ 0.5.</p>"


def _dcr_section(distances: dict | None) -> str:
    if not distances:
        return "<h2>Distance to closest record</h2><p class=note>No holdout rows, so no DCR comparison.</p>"
    hist = distances["dcr_histogram"]
    to_train, to_holdout = np.asarray(hist["to_training"], float), np.asarray(hist["to_holdout"], float)
    rows = distances["rows"]
    svg = _bars(to_train / max(to_train.sum(), 1), to_holdout / max(to_holdout.sum(), 1),
                labels=(f"{hist['edges'][0]:.3g}", f"{hist['edges'][-1]:.3g}"))
    svg = svg.replace(f"width={_W} height={_H}", f"width={_W * 2} height={_H * 1.5:.0f}", 1)
    return (
        "<h2>Distance to closest record (DCR)</h2>"
        f"<p class=note>For each of {rows['synthetic']:,} synthetic rows: distance to the closest of {rows['train']:,} "
        f"training rows (<span style='color:{REAL}'>&#9632;</span>) and to the closest of {rows['holdout']:,} holdout "
        f"rows the generator never saw (<span style='color:{SYNTH}'>&#9632;</span>). A generator that memorised "
        "people piles mass at 0 for training only; here the two should look alike (the training set is larger, so "
        "its bars sit slightly to the left).</p>" + svg
    )


_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>
body{{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}}
h1{{margin-bottom:0}} .sub{{color:#555;margin-top:.2em}}
.verdict{{font-weight:600;padding:.5em .8em;border-radius:4px;display:inline-block}}
.verdict.ok{{background:#e3f4e1}} .verdict.bad{{background:#fbe3e3}}
table{{border-collapse:collapse;width:100%;margin:.5em 0}} table.narrow{{width:auto}}
td,th{{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}}
tr.bad td{{background:#fbe3e3}} tr.warn td{{background:#fff6dd}} \
td.ok{{background:#e3f4e1}} td.bad{{background:#fbe3e3}}
.grid{{display:flex;flex-wrap:wrap;gap:12px}} figure{{margin:0}} figcaption{{font-weight:600}}
.note{{color:#555}} .t{{font-size:10px;fill:#444}}
</style></head><body>
{body}
</body></html>
"""
