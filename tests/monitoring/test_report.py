"""The HTML report opens offline and shows one plot per feature; drift.json holds the same result."""

from __future__ import annotations

import base64
import json
import re

from prodml.monitoring.drift import DriftDetector
from prodml.monitoring.report import render_html
from tests.monitoring.helpers import columns, processed_rows


def shifted_result(churn, churn_profile):
    detector = DriftDetector(churn, churn_profile)
    detector.add_columns(*columns(churn, processed_rows(churn, 3000, seed=5, shift=0.5)))
    return detector.result(
        dataset=churn.name,
        model_version=7,
        source={
            "kind": "capture",
            "since": "2026-11-29T00:00:00+00:00",
            "until": "2026-11-30T00:00:00+00:00",
        },
        computed_at="2026-11-30T00:00:01+00:00",
    )


def test_the_report_is_self_contained_with_one_plot_per_feature(churn, churn_profile, tmp_path):
    result = shifted_result(churn, churn_profile)
    page = render_html(result)
    (tmp_path / "drift.html").write_text(page)
    # Nothing to fetch: no web address, every src and href inline or in-page, no script, stylesheet or frame.
    assert "http://" not in page.lower() and "https://" not in page.lower()
    assert all(v.startswith(("data:", "#")) for v in re.findall(r'\b(?:src|href)="([^"]*)"', page))
    assert not re.search(r"<(script|link|iframe|object|embed)\b|@import|url\(", page, re.IGNORECASE)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert [alt.split(":")[0] for alt, _ in images] == churn.model_features
    for _, data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert page.count("<img") == len(churn.model_features)
    # What a reader needs first: the verdict, the model version, the window, the scores.
    assert ">drift</span>" in page and "model version 7" in page
    assert "2026-11-29T00:00:00+00:00 to 2026-11-30T00:00:00+00:00" in page
    for feature in result.features:
        assert f'href="#f-{feature.feature}"' in page


def test_drift_json_is_plain_json_with_the_bucket_tables(churn, churn_profile):
    result = shifted_result(churn, churn_profile)
    data = json.loads(result.to_json())
    assert data["verdict"] == "drift" and data["model_version"] == 7 and data["rows"] == 3000
    assert set(data["drifted_features"]) == {f["feature"] for f in data["features"] if f["drifted"]}
    plan = next(f for f in data["features"] if f["feature"] == "plan")
    assert [b["label"] for b in plan["buckets"]] == ["basic", "enterprise", "pro", "(unseen)", "(null)"]
    assert sum(b["current_count"] for b in plan["buckets"]) == 3000
