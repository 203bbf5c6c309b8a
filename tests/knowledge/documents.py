"""Small documents for the knowledge tests, generated deterministically (PDFs too, written by hand)."""

from __future__ import annotations

from pathlib import Path

ALPHA = """# Quarantine

Rows that fail validation are never dropped. The quarantine zone keeps every rejected row together with its
reason code, so an operator can see why a row was refused and replay it after a fix.

## Retention

Quarantined rows are kept for ninety days before lifecycle rules expire them.
"""

ALPHA_CHANGED = ALPHA.replace("ninety days", "thirty days")

ALPHA_UNRELATED = """# Bananas

Bananas grow in tropical climates and are picked while they are still green. Ripening happens in warm rooms
with ethylene gas, which turns the starch into sugar.
"""

BETA = """<html><head><title>Canary</title><style>p { color: red; }</style></head><body>
<h1>Canary releases</h1>
<p>A canary sends a small <em>fraction</em> of live requests to the challenger model, chosen by hashing the
request key, while the champion keeps serving everyone else.</p>
<script>var ignored = "never indexed";</script>
</body></html>
"""

GAMMA_PDF_TEXT = "Glaciers move slowly down the valley and carve it into a U shape over thousands of years."


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose page shows ``text`` in Helvetica: enough for a real text extractor."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


CORRUPT_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage with no xref and no trailer\n"


def write_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "alpha": folder / "alpha.md",
        "beta": folder / "beta.html",
        "gamma": folder / "gamma.pdf",
        "broken": folder / "broken.pdf",
    }
    files["alpha"].write_text(ALPHA)
    files["beta"].write_text(BETA)
    files["gamma"].write_bytes(pdf_with_text(GAMMA_PDF_TEXT))
    files["broken"].write_bytes(CORRUPT_PDF)
    return files


GOLDEN = """kb: test_kb
questions:
  - id: quarantine
    question: Where do rejected rows go, and with what reason code?
    expected_documents: [alpha.md]
  - id: retention
    question: How long are quarantined rows retained?
    expected_documents: [alpha.md]
  - id: canary
    question: What share of live requests does a canary send to the challenger model?
    expected_documents: [beta.html]
  - id: glaciers
    question: How do glaciers carve a valley?
    expected_documents: [gamma.pdf]
"""
