"""HTML hygiene every rendered page must pass: it parses, has a title and one h1, no
duplicate ids, every form has an action and every input a label."""

from __future__ import annotations

import html5lib
from html5lib.html5parser import ParseError

NS = "{http://www.w3.org/1999/xhtml}"
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class HTMLProblem(AssertionError):
    pass


def _parse(text: str, fragment: bool):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    # A fragment of table rows (an approval row group) is parsed where it goes: in a table.
    container = "table" if fragment and text.lstrip().startswith(("<tbody", "<tr")) else "div"
    try:
        return parser.parseFragment(text, container=container) if fragment else parser.parse(text)
    except ParseError as exc:
        line = exc.args[0] if exc.args else ""
        raise HTMLProblem(f"HTML does not parse: {exc} {line}") from None


def check_html(text: str, *, fragment: bool = False) -> list[str]:
    """Raise HTMLProblem on the first rule a page breaks; return the ids it carries."""
    root = _parse(text, fragment)
    elements = list(root.iter())

    def tag(el) -> str:
        return el.tag.removeprefix(NS) if isinstance(el.tag, str) else ""

    ids = [el.get("id") for el in elements if el.get("id")]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise HTMLProblem(f"duplicate ids: {duplicates}")

    if not fragment:
        titles = [el for el in elements if tag(el) == "title"]
        if len(titles) != 1 or not (titles[0].text or "").strip():
            raise HTMLProblem("a page needs exactly one non-empty <title>")
        h1s = [el for el in elements if tag(el) == "h1"]
        if len(h1s) != 1:
            raise HTMLProblem(f"a page needs exactly one <h1>, found {len(h1s)}")
        html = next(el for el in elements if tag(el) == "html")
        if not html.get("lang"):
            raise HTMLProblem("<html> needs a lang")
        if not any(tag(el) == "main" for el in elements):
            raise HTMLProblem("a page needs a <main> landmark")

    label_for = {el.get("for") for el in elements if tag(el) == "label" and el.get("for")}
    wrapped = set()
    for label in (el for el in elements if tag(el) == "label"):
        for inner in label.iter():
            wrapped.add(id(inner))
    for el in elements:
        t = tag(el)
        if t == "form" and not el.get("action"):
            raise HTMLProblem("every <form> needs an action (it must work without JavaScript)")
        if t in {"input", "select", "textarea"}:
            if t == "input" and (el.get("type") or "text") in UNLABELLED_TYPES:
                continue
            if el.get("aria-label") or el.get("aria-labelledby"):
                continue
            if el.get("id") in label_for or id(el) in wrapped:
                continue
            raise HTMLProblem(f"<{t} name={el.get('name')!r}> has no label")
    return ids
