"""Documents to plain text, through well-kept parsers: markdown-it-py, BeautifulSoup and pypdf.

The normalised text is what chunk offsets point into, so it is kept beside the chunks; this module must
never be nondeterministic (the same bytes always give the same text). A document that cannot be read raises
:class:`NormalisationError` with a reason a person can act on; that reason goes to the dead-letter queue.
"""

from __future__ import annotations

import io
import re
from typing import Any

# Bump when the output for the same bytes changes: it is part of every processed document's key.
NORMALISER_VERSION = "2"

_BLOCK_TAGS = [
    "address",
    "article",
    "aside",
    "blockquote",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
    "caption",
]
_DROP_TAGS = ("script", "style", "noscript", "template", "head", "svg")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class NormalisationError(ValueError):
    """A document that cannot become text; deterministic, so retrying it will not help."""


def normalise(data: bytes, document_type: str, name: str = "<document>") -> str:
    """The plain text of a document of ``document_type`` (markdown, html, pdf, text)."""
    if not data:
        raise NormalisationError(f"{name}: the document is empty")
    if document_type == "pdf":
        text = pdf_to_text(data, name)
    elif document_type == "markdown":
        text = markdown_to_text(_decode(data, name))
    elif document_type == "html":
        text = html_to_text(_decode(data, name))
    elif document_type == "text":
        text = tidy(_decode(data, name))
    else:
        raise NormalisationError(f"{name}: unknown document type {document_type!r}")
    if not text.strip():
        raise NormalisationError(f"{name}: no text in the document after normalisation")
    return text


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NormalisationError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def tidy(text: str) -> str:
    """One space between words, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


def html_to_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    # Source line breaks inside a paragraph are soft (wrapped text); only <pre> keeps its own.
    preformatted = {id(node) for pre in soup.find_all("pre") for node in pre.find_all(string=True)}
    for node in soup.find_all(string=True):
        if "\n" in node and id(node) not in preformatted:
            node.replace_with(node.replace("\n", " "))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    # Block elements end a line; inline ones (code, links, emphasis) stay inside their sentence.
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" | ")
    return tidy(soup.get_text())


def markdown_to_text(markdown: str) -> str:
    """Markdown's text, from markdown-it-py's token stream (no HTML round trip): a block ends a line, a
    soft line break is a space, code keeps its lines, table cells are separated by `` | ``."""
    from markdown_it import MarkdownIt

    parts: list[str] = []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        if token.type == "inline":
            parts.append(_inline_text(token.children or []))
        elif token.type in ("fence", "code_block"):
            parts.append("\n" + token.content + "\n")
        elif token.type == "html_block":
            parts.append("\n" + html_to_text(token.content) + "\n")
        elif token.type in ("th_close", "td_close"):
            parts.append(" | ")
        elif token.type in ("heading_close", "paragraph_close") and not token.hidden:
            parts.append("\n\n")
        elif token.type in ("paragraph_close", "list_item_close", "tr_close", "hr", "blockquote_close"):
            parts.append("\n")
    return tidy("".join(parts))


def _inline_text(children: list[Any]) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child.children or []))
    return "".join(parts)


def pdf_to_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise NormalisationError(f"{name}: the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except NormalisationError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise NormalisationError(f"{name}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    if not pages:
        raise NormalisationError(f"{name}: the PDF has no pages")
    if not any(page.strip() for page in pages):
        raise NormalisationError(f"{name}: the PDF has no extractable text (a scan? OCR is not supported)")
    return tidy("\n\n".join(pages))
