"""Main text of an HTML page, with its title and headings (standard library only).

Scripts, styles, navigation, headers, footers, asides, forms and hidden elements are dropped.
When the page marks its main content (`<main>`, `<article>` or `role="main"`), only that is
kept. The result is plain text (paragraphs separated by blank lines) plus `Section`s that
start at each heading, with the path of headings above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from indexers.chunking import Section

_SKIP = {"script", "style", "noscript", "template", "svg", "math", "nav", "aside", "footer", "form", "button",
         "select", "textarea", "iframe", "canvas", "object", "embed", "head", "dialog", "menu"}
_SKIP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
_MAIN = {"main", "article"}
_BLOCK = {"p", "div", "section", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "thead", "tbody", "blockquote",
          "pre", "br", "hr", "figure", "figcaption", "address", "details", "summary", "body", "main", "article",
          "header", "caption", "td", "th"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "source", "track", "wbr", "param"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)


@dataclass
class HtmlText:
    title: str
    text: str
    sections: list[Section] = field(default_factory=list)


def declared_charset(data: bytes) -> str | None:
    """The charset a page declares in a `<meta>` tag near its top, if any."""
    m = _META_CHARSET.search(data[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, skipping, main)
        self.blocks: list[tuple[int, str, bool]] = []  # (heading level or 0, text, inside main)
        self.buf: list[str] = []
        self.heading: int = 0
        self.pre = 0
        self.title: list[str] = []
        self.in_title = False
        self.saw_main = False

    # state of the innermost open element
    @property
    def skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    @property
    def in_main(self) -> bool:
        return bool(self.stack) and self.stack[-1][2]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "title":
            self.in_title = True
        if tag in _VOID:
            if tag in ("br", "hr") and not self.skipping:
                self._flush()
            return
        hidden = "hidden" in a or a.get("aria-hidden") == "true" or "display:none" in a.get("style", "").replace(" ", "")
        role = a.get("role", "")
        main_here = tag in _MAIN or role == "main"
        in_main = self.in_main or main_here
        skip = self.skipping or tag in _SKIP or hidden or role in _SKIP_ROLES or (tag == "header" and not in_main)
        if main_here and not skip:
            self.saw_main = True
        if tag in _BLOCK or tag in _HEADINGS:
            self._flush()
        self.stack.append((tag, skip, in_main))
        if tag in _HEADINGS and not skip:
            self.heading = _HEADINGS[tag]
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _VOID or not any(t == tag for t, _, _ in self.stack):
            return
        if tag in _BLOCK or tag in _HEADINGS:
            self._flush()
        while self.stack:  # close unclosed children too (lenient HTML)
            t, _, _ = self.stack.pop()
            if t == "pre":
                self.pre = max(0, self.pre - 1)
            if t == tag:
                break
        if tag in _HEADINGS:
            self.heading = 0

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if not self.skipping:
            self.buf.append(data)

    def _flush(self) -> None:
        raw = "".join(self.buf)
        self.buf = []
        if self.pre:
            text = raw.strip("\n")
        else:
            text = " ".join(raw.split())
        if text.strip():
            self.blocks.append((self.heading, text, self.in_main))

    def close(self) -> None:
        super().close()
        self._flush()


def extract_html(html: str) -> HtmlText:
    """The readable text of a page (see the module docstring)."""
    p = _Extractor()
    p.feed(html)
    p.close()
    blocks = [(lvl, txt) for lvl, txt, main in p.blocks if main or not p.saw_main]
    title = " ".join("".join(p.title).split())
    if not title:
        title = next((txt for lvl, txt in blocks if lvl == 1), "")
    parts: list[str] = []
    bounds: list[tuple[int, tuple[str, ...]]] = [(0, ())]  # (offset, heading path) where a section starts
    path: list[tuple[int, str]] = []
    pos = 0
    for lvl, txt in blocks:
        if lvl:
            while path and path[-1][0] >= lvl:
                path.pop()
            path.append((lvl, " ".join(txt.split())))
            bounds.append((pos, tuple(h for _, h in path)))
        parts.append(txt)
        pos += len(txt) + 2
    text = "\n\n".join(parts)
    sections = []
    for (start, hp), (end, _) in zip(bounds, bounds[1:] + [(len(text), ())]):
        body = text[start:end].rstrip()
        if body.strip():
            sections.append(Section(body, start, hp))
    return HtmlText(title, text, sections)
