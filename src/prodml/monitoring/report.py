"""The drift report a person reads: one self-contained HTML file.

It holds the verdict, the window (or dataset) and model version, the scores table, and one plot per feature
(baseline against current: bucket shares, and for numeric features both CDFs), each an inline base64 PNG.
No script, stylesheet, font or image is fetched from anywhere: the file opens offline, as an e-mail
attachment or from S3. Plots are drawn with matplotlib's object API (no pyplot state, no GUI backend).
"""

from __future__ import annotations

import base64
import html
import io

from prodml.monitoring.drift import DRIFT, INSUFFICIENT_DATA, DriftResult, FeatureDrift

BASELINE_COLOUR = "#4C72B0"
CURRENT_COLOUR = "#DD8452"
MISSING = "-"  # a statistic with no value
VERDICT_COLOURS = {DRIFT: "#b3261e", INSUFFICIENT_DATA: "#7a6b00"}


def _number(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def feature_plot(feature: FeatureDrift) -> str:
    """The feature's plot as a base64 PNG."""
    from matplotlib.figure import Figure

    numeric = feature.kind == "numeric" and bool(feature.cdf)
    # Fixed margins and legend places: a layout engine or loc="best" would triple the drawing time.
    figure = Figure(figsize=(11 if numeric else 7, 3.6), dpi=90)
    figure.subplots_adjust(left=0.07 if numeric else 0.1, right=0.98, bottom=0.27, top=0.84, wspace=0.18)
    axes = figure.subplots(1, 2, width_ratios=[3, 2]) if numeric else [figure.subplots()]
    bars = axes[0]
    labels = [b.label for b in feature.buckets]
    positions = range(len(labels))
    width = 0.4
    bars.bar(
        [p - width / 2 for p in positions],
        [b.baseline_share for b in feature.buckets],
        width,
        label="baseline (train)",
        color=BASELINE_COLOUR,
    )
    bars.bar(
        [p + width / 2 for p in positions],
        [b.current_share for b in feature.buckets],
        width,
        label="current",
        color=CURRENT_COLOUR,
    )
    bars.set_xticks(list(positions), labels, rotation=35, ha="right", fontsize=7)
    bars.set_ylabel("share of rows")
    bars.set_title(
        f"PSI buckets (PSI {_number(feature.psi)}, threshold {feature.psi_threshold:g})", fontsize=9
    )
    bars.legend(fontsize=7, loc="upper right")
    if numeric:
        cdf = axes[1]
        cdf.step(
            feature.cdf["values"],
            feature.cdf["baseline"],
            where="post",
            label="baseline",
            color=BASELINE_COLOUR,
        )
        cdf.step(
            feature.cdf["values"], feature.cdf["current"], where="post", label="current", color=CURRENT_COLOUR
        )
        cdf.set_ylim(0, 1.02)
        cdf.set_ylabel("CDF")
        cdf.set_xlabel(feature.feature, fontsize=8)
        threshold = "" if feature.ks_threshold is None else f", threshold {feature.ks_threshold:g}"
        cdf.set_title(f"non-null values (KS {_number(feature.ks)}{threshold})", fontsize=9)
        cdf.legend(fontsize=7, loc="lower right")
    figure.suptitle(f"{feature.feature}: score {_number(feature.score, 2)}", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.verdict { display: inline-block; padding: .2rem .7rem; border-radius: .4rem; color: white; font-weight: 600; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.drifted td { background: #fdecea; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; font-size: .9rem; }
dt { color: #555; } dd { margin: 0; }
img { max-width: 100%; }
"""


def _source_rows(result: DriftResult) -> list[tuple[str, str]]:
    source = result.source
    if source.get("kind") == "capture":
        where = [("Window", f"{source.get('since')} to {source.get('until')} (captured requests)")]
        if source.get("root"):
            where.append(("Capture", str(source["root"])))
        details = result.details
        if "rows_read" in details:
            others = ", ".join(f"v{v}: {n:,}" for v, n in details["rows_other_model_versions"].items())
            variants = ", ".join(f"{v} {n:,}" for v, n in details["variants"].items()) or "none"
            where.append(
                (
                    "Captured rows",
                    f"{details['rows_read']:,} read from {details['capture_objects']:,} objects; "
                    f"compared by variant: {variants} ({details['cache_hits']:,} cache hits); "
                    f"served by other model versions: {others or 'none'}; "
                    f"outside the window: {details['rows_outside_window']:,}; "
                    f"unreadable lines: {details['unreadable_lines']:,}",
                )
            )
    else:
        where = [("Source", f"{source.get('uri', '')} (a dataset)")]
    return [
        ("Dataset", result.dataset),
        ("Model version", str(result.model_version)),
        *where,
        ("Rows compared", f"{result.rows:,} (at least {result.min_rows:,} needed)"),
        (
            "Baseline",
            f"train split of dataset version {result.baseline.get('dataset_version')}, "
            f"{result.baseline.get('rows') or 0:,} rows",
        ),
        ("Computed at", result.computed_at),
    ]


def _scores_table(result: DriftResult) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>PSI</th><th>PSI threshold</th><th>KS</th><th>KS threshold</th>"
        "<th>score</th><th>nulls</th><th>drifted</th></tr>"
    )
    rows = []
    for f in sorted(result.features, key=lambda f: -(f.score or 0)):
        nulls = f"{f.null_count / f.rows:.1%}" if f.rows else MISSING
        rows.append(
            f'<tr class="{"drifted" if f.drifted else ""}"><td><a href="#f-{html.escape(f.feature)}">'
            f"{html.escape(f.feature)}</a></td><td>{f.kind}</td><td>{_number(f.psi)}</td>"
            f"<td>{f.psi_threshold:g}</td><td>{_number(f.ks)}</td>"
            f"<td>{MISSING if f.ks_threshold is None else f'{f.ks_threshold:g}'}</td>"
            f"<td><b>{_number(f.score, 2)}</b></td><td>{nulls}</td><td>{'yes' if f.drifted else 'no'}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _bucket_table(feature: FeatureDrift) -> str:
    head = (
        "<tr><th>bucket</th><th>baseline rows</th><th>baseline share</th><th>current rows</th>"
        "<th>current share</th><th>PSI contribution</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(b.label)}</td><td>{b.baseline_count:,}</td><td>{b.baseline_share:.2%}</td>"
        f"<td>{b.current_count:,}</td><td>{b.current_share:.2%}</td><td>{_number(b.psi_contribution, 4)}</td></tr>"
        for b in feature.buckets
    )
    unseen = ""
    if feature.unseen_values:
        listed = ", ".join(f"{html.escape(v)} ({n:,})" for v, n in feature.unseen_values.items())
        unseen = f"<p>Unseen values: {listed}</p>"
    means = ""
    if feature.kind == "numeric":
        means = (
            f"<p>Mean: baseline {_number(feature.baseline_mean)}, current {_number(feature.current_mean)}</p>"
        )
    return f"<details><summary>Buckets</summary><table>{head}{rows}</table>{unseen}</details>{means}"


def render_html(result: DriftResult) -> str:
    """The whole report as one HTML document."""
    colour = VERDICT_COLOURS.get(result.verdict, "#1e7d32")
    facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in _source_rows(result))
    sections = []
    for feature in result.features:
        title = html.escape(feature.feature)
        sections.append(
            f'<section id="f-{title}"><h2>{title} ({feature.kind})'
            f"{' — drifted' if feature.drifted else ''}</h2>"
            f'<img alt="{title}: baseline against current" src="data:image/png;base64,{feature_plot(feature)}">'
            f"{_bucket_table(feature)}</section>"
        )
    drifted = ", ".join(result.drifted_features) or "none"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Drift: {html.escape(result.dataset)} model v{result.model_version}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Drift report: {html.escape(result.dataset)}, model version {result.model_version}</h1>"
        f'<p><span class="verdict" style="background:{colour}">{html.escape(result.verdict)}</span> '
        f"overall score <b>{_number(result.overall_score, 2)}</b> (drift at 1.00; a score is the largest "
        f"statistic over its threshold). Drifted features: {html.escape(drifted)}.</p>"
        f"<dl>{facts}</dl><h2>Scores</h2>{_scores_table(result)}{''.join(sections)}"
        "</body></html>\n"
    )
