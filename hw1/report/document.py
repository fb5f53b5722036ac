"""The report's document model and its one renderer, to Markdown and to self-contained HTML.

A :class:`Document` is a title, header lines, tables, the conclusions and one
:class:`Section` per task. :func:`blocks` walks it ONCE into a flat list of named blocks
(:class:`Heading`, :class:`Line`, :class:`Table`, :class:`Notes`, :class:`Numbered` figures, ...);
:func:`markdown` and :func:`html_page` only render blocks. This module imports neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    title: str = ""


@dataclass
class Figure:
    path: str          # relative to the report's folder, with forward slashes
    title: str
    caption: str
    exists: bool


@dataclass
class Note:
    """One finding. ``verdict``: "agrees" / "contradicts" (a claim of the literature tested and carried by
    the evidence), "unresolved" (tested, but the run cannot tell), "warning" (a consistency check failed),
    "disagrees" (an observation that goes against an expectation without being a tested claim, e.g. on a
    secondary metric)."""
    text: str
    verdict: str = ""


@dataclass
class Section:
    key: str
    title: str
    question: str
    experiment: str
    status: str = ""
    describe: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    comment: list[Note | Table] = field(default_factory=list)
    error: str = ""
    missing: bool = False

    @property
    def anchor(self) -> str:
        return slug(f"{self.key} {self.title}")


@dataclass
class Conclusion:
    """One short answer to one question of the assignment, with the figure that shows it."""
    section: Section
    text: str
    figure: Figure | None = None


@dataclass
class Document:
    title: str
    meta: list[str]
    tables: list[Table]
    conclusions: list[Conclusion]
    flagged: list[tuple[Section, Note]]
    sections: list[Section]
    nothing_flagged: str = ""


VERDICT_LABEL = {"agrees": "Agrees with the literature.", "contradicts": "Contradicts the literature.",
                 "unresolved": "Not resolved by this run.", "warning": "Check failed.",
                 "disagrees": "The data disagree."}


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


# ---------------------------------------------------------------- one walk: the blocks

@dataclass(frozen=True)
class Title:
    text: str


@dataclass(frozen=True)
class Line:
    """A header line (``*Question:* ...``), Markdown-emphasis allowed."""
    text: str


@dataclass(frozen=True)
class Contents:
    sections: list[Section]


@dataclass(frozen=True)
class Heading:
    """A heading of ``level`` 2 or 3; a level-2 one opens a section of the page (``anchor``, ``status``; ``bad``:
    the status reports a section that could not be built or was not run)."""
    text: str
    level: int = 2
    anchor: str = ""
    status: str = ""
    bad: bool = False


@dataclass(frozen=True)
class Answer:
    """A conclusion, citing its figure by ``number`` (None: no figure)."""
    conclusion: Conclusion
    number: int | None


@dataclass(frozen=True)
class Flags:
    """The findings that contradict the literature or fail a check; ``nothing``: the line when there are none."""
    items: list[tuple[Section, Note]]
    nothing: str


@dataclass(frozen=True)
class Notice:
    """A section that was not run (``kind`` "missing") or could not be built ("error")."""
    kind: str
    text: str


@dataclass(frozen=True)
class Numbered:
    """A figure with its number in the document."""
    figure: Figure
    number: int


@dataclass(frozen=True)
class Notes:
    items: list[Note | Table]


Block = Title | Line | Table | Contents | Heading | Answer | Flags | Notice | Numbered | Notes


def blocks(doc: Document) -> list[Block]:
    """The document as a flat list of blocks, in reading order."""
    numbers: dict[str, int] = {}  # figure path → its number in the document, for the conclusions to cite
    for s in doc.sections:
        if not s.missing and not s.error:
            for fig in s.figures:
                numbers[fig.path] = len(numbers) + 1
    out: list[Block] = [Title(doc.title), *map(Line, doc.meta), *doc.tables, Contents(doc.sections)]
    if doc.conclusions:
        out.append(Heading("Conclusions", anchor="conclusions"))
        out += [Answer(c, numbers.get(c.figure.path) if c.figure else None) for c in doc.conclusions]
    out.append(Heading("Where the data disagrees with the literature, or a check failed",
                       anchor="where-the-data-disagrees-with-the-literature-or-a-check-failed"))
    out.append(Flags(doc.flagged, doc.nothing_flagged))
    number = 0
    for s in doc.sections:
        out.append(Heading(f"{s.key} {s.title}", anchor=s.anchor, status=s.status, bad=bool(s.error or s.missing)))
        out += [Line(f"*Question:* {s.question}"), Line(f"*Experiment:* `experiments/{s.experiment}.py`")]
        if s.missing:
            out.append(Notice("missing", f"**Not run.** No finished run of `{s.experiment}` in this folder; run "
                                         f"`bash run_all.sh --only {s.experiment}` to produce it."))
            continue
        if s.error:
            out.append(Notice("error", f"**This section could not be built from the files found:** `{s.error}`"))
            continue
        out += [Heading("Describe", 3), *s.describe, Heading("Figures", 3)]
        for fig in s.figures:
            number += 1
            out.append(Numbered(fig, number))
        out += [Heading("Comment", 3), Notes(s.comment)]
    return out


# ---------------------------------------------------------------- Markdown

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")  # what can start an HTML tag, comment or autolink in CommonMark


def md_text(text: object) -> str:
    """``text`` for Markdown, with no raw HTML and no link target from the data, as :func:`_inline` escapes it
    for HTML: a ``<`` that could open a tag, comment or autolink becomes ``&lt;``, backslashes and stray
    backticks are escaped, ``](`` cannot join a link text to a target, and a line break becomes a space (no
    block structure from the data). `Code` spans are kept, except one holding such a ``<`` (which a code span
    could not escape): it becomes plain, escaped text.

    Example:
        >>> md_text("<img src=x onerror=alert(1)> [x](javascript:alert(1)) a < b `c` `<b>`")
        '&lt;img src=x onerror=alert(1)> [x]\\\\(javascript:alert(1)) a < b `c` &lt;b>'
    """
    text = str(text).replace("\r", " ").replace("\n", " ")
    out, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        code = span.group(0) if not _TAG_OPEN.search(span.group(1)) else _md_plain(span.group(1))
        out += [_md_plain(text[last:span.start()]), code]
        last = span.end()
    return "".join([*out, _md_plain(text[last:])])


def _md_plain(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("`", "\\`")
    return _TAG_OPEN.sub("&lt;", text).replace("](", "]\\(")


def _md_cell(text: str) -> str:
    return md_text(text).replace("|", "\\|")


def md_table(table: Table) -> str:
    out = [f"**{md_text(table.title)}**", ""] if table.title else []
    out += ["| " + " | ".join(map(_md_cell, table.header)) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.rows]
    return "\n".join(out) + "\n"


def md_note(note: Note) -> str:
    label = VERDICT_LABEL.get(note.verdict)
    return f"- **{label}** {md_text(note.text)}" if label else f"- {md_text(note.text)}"


def markdown(doc: Document) -> str:
    """The document as Markdown; every text from the data passes :func:`md_text` (no raw HTML, no link)."""
    t = md_text
    out: list[str] = []
    for block in blocks(doc):
        match block:
            case Title(text):
                out += [f"# {t(text)}", ""]
            case Line(text):
                out.append(f"{t(text)}  ")
            case Table():
                out += ["", md_table(block)]
            case Contents(sections):
                out += ["## Contents", ""] + [f"{i}. [{t(s.key)} {t(s.title)}](#{s.anchor}) — {t(s.status)}"
                                              for i, s in enumerate(sections, 1)] + [""]
            case Heading(text, level):
                out += ["", f"{'#' * level} {t(text)}", ""]
            case Answer(c, number):
                fig = f" ([Figure {number}]({c.figure.path}): {t(c.figure.title)}.)" if c.figure and number else ""
                out += [f"- **[{t(c.section.key)}](#{c.section.anchor})** {t(c.text)}{fig}"]
            case Flags(items, nothing):
                out += [f"- [{t(s.key)}](#{s.anchor}): {t(flag_text(n))}" for s, n in items] or [f"- {t(nothing)}"]
            case Notice(_, text):
                out += ["", t(text), ""]
            case Numbered(fig, number):
                out += ([f"![{t(fig.title)}]({fig.path})", ""] if fig.exists
                        else [f"(figure file `{fig.path}` missing)", ""])
                out += [f"*Figure {number}. {t(fig.title)}.* {t(fig.caption)}", ""]
            case Notes(items):
                out += [f"\n{md_table(n)}" if isinstance(n, Table) else md_note(n) for n in items]
    return "\n".join(out).strip() + "\n"


def flag_text(note: Note) -> str:
    return f"{VERDICT_LABEL[note.verdict]} {note.text}" if note.verdict in VERDICT_LABEL else note.text


# ---------------------------------------------------------------- HTML

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
 max-width:980px;margin:0 auto;padding:24px 28px 80px;background:#fff}
h1{font-size:1.9em;margin:.2em 0 .4em}h2{font-size:1.4em;margin:2.2em 0 .3em;padding-top:.6em;
 border-top:2px solid #e4e4e4}h3{font-size:1.08em;margin:1.4em 0 .4em;color:#444}
code{font:.9em ui-monospace,Menlo,Consolas,monospace;background:#f3f3f3;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:.9em}caption{text-align:left;font-weight:600;
 padding:4px 0;color:#333}th,td{border:1px solid #ddd;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f5f6f8}tr:nth-child(even) td{background:#fafafa}
.meta{color:#555;margin:.1em 0}.status{font-size:.8em;color:#666;font-weight:normal;margin-left:.5em}
.status.bad{color:#b3261e;font-weight:600}
nav ol{columns:2;padding-left:1.4em}nav li{margin:.15em 0}
.missing{background:#fff4e5;border-left:4px solid #f0a030;padding:8px 12px}
.error{background:#fdecea;border-left:4px solid #d93025;padding:8px 12px}
figure{margin:1.2em 0 1.8em;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444;margin-top:.3em;text-align:left}
ul.notes{padding-left:1.2em}ul.notes li{margin:.35em 0}
.badge{display:inline-block;font-size:.78em;font-weight:600;padding:0 6px;border-radius:3px;margin-right:6px}
.agrees{background:#e6f4ea;color:#1e6b34}.contradicts{background:#fde7d9;color:#9a3b00}
.warning{background:#fdecea;color:#b3261e}.unresolved{background:#eef1f6;color:#3c4a60}.disagrees{background:#fff4d6;color:#7a5200}
.conclusion{margin:.5em 0;padding:.1em 0;border-bottom:1px solid #f0f0f0}
"""


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>, **bold** into <b> and *italic* into <i>."""
    text = html.escape(str(text), quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", text)


def html_table(table: Table) -> str:
    head = "".join(f"<th>{_inline(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    title = f"<caption>{_inline(table.title)}</caption>" if table.title else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_note(note: Note) -> str:
    label = VERDICT_LABEL.get(note.verdict)
    badge = f'<span class="badge {note.verdict}">{html.escape(label)}</span>' if label else ""
    return f"<li>{badge}{_inline(note.text)}</li>"


def html_notes(notes: Sequence[Note | Table]) -> str:
    """Runs of sentences as bullet lists, tables between them."""
    out, items = [], []
    for item in [*notes, None]:
        if isinstance(item, Note):
            items.append(html_note(item))
            continue
        if items:
            out.append('<ul class="notes">' + "".join(items) + "</ul>")
            items = []
        if isinstance(item, Table):
            out.append(html_table(item))
    return "\n".join(out)


def _img_src(root: Path, path: str, embed: bool) -> str:
    if embed:
        return "data:image/png;base64," + base64.b64encode((root / path).read_bytes()).decode("ascii")
    return html.escape(path, quote=True)


def html_figure(root: Path, fig: Figure, number: int, embed: bool) -> str:
    caption = f"<figcaption><b>Figure {number}. {_inline(fig.title)}.</b> {_inline(fig.caption)}</figcaption>"
    if not fig.exists:
        missing = f"Figure file <code>{html.escape(fig.path)}</code> is missing."
        return f'<figure id="figure-{number}"><p class="error">{missing}</p>{caption}</figure>'
    return (f'<figure id="figure-{number}"><img src="{_img_src(root, fig.path, embed)}" '
            f'alt="{html.escape(fig.title, quote=True)}">{caption}</figure>')


def html_page(root: Path, doc: Document, embed: bool = True) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(doc.title)}</title>", f"<style>{CSS}</style></head><body>"]
    open_section = False
    for block in blocks(doc):
        match block:
            case Title(text):
                out.append(f"<h1>{_inline(text)}</h1>")
            case Line(text):
                out.append(f'<p class="meta">{_inline(text)}</p>')
            case Table():
                out.append(html_table(block))
            case Contents(sections):
                out.append('<nav><h2 id="contents">Contents</h2><ol>')
                out += [f'<li><a href="#{s.anchor}">{_inline(s.key + " " + s.title)}</a> <span class="status'
                        f'{" bad" if s.error or s.missing else ""}">{_inline(s.status)}</span></li>' for s in sections]
                out.append("</ol></nav>")
            case Heading(text, 2, anchor, status, bad):
                if open_section:
                    out.append("</section>")
                status = f'<span class="status{" bad" if bad else ""}">{_inline(status)}</span>' if status else ""
                out.append(f'<section><h2 id="{anchor}">{_inline(text)}{status}</h2>')
                open_section = True
            case Heading(text):
                out.append(f"<h3>{_inline(text)}</h3>")
            case Answer(c, number):  # the figure is cited by number, not embedded twice
                fig = (f' (<a href="#figure-{number}">Figure {number}</a>: {_inline(c.figure.title)}.)'
                       if c.figure and number else "")
                out.append(f'<div class="conclusion"><p><a href="#{c.section.anchor}"><b>'
                           f"{_inline(c.section.key + ' ' + c.section.title)}</b></a>. {_inline(c.text)}{fig}</p></div>")
            case Flags(items, nothing):
                listed = "".join(f'<li><a href="#{s.anchor}">{_inline(s.key)}</a>: {_inline(flag_text(n))}</li>'
                                 for s, n in items)
                out.append(f'<ul class="notes">{listed}</ul>' if items else f"<p>{_inline(nothing)}</p>")
            case Notice(kind, text):
                out.append(f'<p class="{kind}">{_inline(text)}</p>')
            case Numbered(fig, number):
                out.append(html_figure(root, fig, number, embed))
            case Notes(items):
                out.append(html_notes(items))
    if open_section:
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)
