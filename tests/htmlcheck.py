"""HTML hygiene every rendered page must pass: it parses, has a title and one h1, no
duplicate ids, every form has an action and every input a label; and reading a page the way a
person does, by element (``page``, ``text``, ``field_error``...), for the tests' assertions."""

from __future__ import annotations

from functools import lru_cache

import html5lib
from bs4 import BeautifulSoup, Tag
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


# ---- Reading pages as a person would: by element, not by substring ------------------------------
#
# ``page(r)`` parses a response (or its text) with BeautifulSoup and Python's own HTML parser
# (fast; every page was already checked against the HTML standard with html5lib by the test
# client, see ``check_html``), with line breaks normalised as a browser does; the helpers below read one part of it by CSS selector, with its text normalised (runs of
# whitespace become one space), and fail loudly when the part is missing.


def _text_of(response_or_text) -> str:
    return response_or_text if isinstance(response_or_text, str) else response_or_text.text


@lru_cache(maxsize=32)
def _soup(text: str) -> BeautifulSoup:
    # An htmx fragment of table rows only parses where it goes: in a table.
    if text.lstrip().startswith(("<tbody", "<tr")):
        text = f"<table>{text}</table>"
    return BeautifulSoup(text.replace("\r\n", "\n").replace("\r", "\n"), "html.parser")


def page(response_or_text) -> BeautifulSoup:
    """The parsed page (or fragment) of a response. Parsed once per text: treat it as read-only."""
    return _soup(_text_of(response_or_text))


def norm(s: str) -> str:
    return " ".join(s.split())


def element(soup: Tag, selector: str) -> Tag:
    """The one element ``selector`` selects first; it must exist."""
    el = soup.select_one(selector)
    assert el is not None, f"nothing matches {selector!r}"
    return el


def text(soup: Tag, selector: str) -> str:
    """The normalised text of the first element ``selector`` selects; it must exist."""
    return norm(element(soup, selector).get_text())


def texts(soup: Tag, selector: str) -> list[str]:
    """The normalised texts of every element ``selector`` selects, in page order."""
    return [norm(el.get_text()) for el in soup.select(selector)]


def attr(soup: Tag, selector: str, name: str) -> str:
    """An attribute of the first element ``selector`` selects; both must exist."""
    value = element(soup, selector).get(name)
    assert value is not None, f"{selector!r} has no {name}"
    return value if isinstance(value, str) else " ".join(value)


def attrs(soup: Tag, selector: str, name: str) -> list[str]:
    """One attribute of every element ``selector`` selects (those that carry it), in page order."""
    return [el[name] for el in soup.select(selector) if el.has_attr(name)]


def h1(soup: Tag) -> str:
    return text(soup, "h1")


def title(soup: Tag) -> str:
    return text(soup, "title")


def _error_text(el: Tag) -> str:
    return norm(el.get_text()).removeprefix("Error:").strip()


def field_error(soup: Tag, name: str) -> str:
    """The message shown next to the field ``name`` (its ``#name-error``); it must exist."""
    el = soup.find(id=f"{name}-error")
    assert el is not None, f"no error message next to {name!r}; the errors shown: {field_errors(soup)}"
    return _error_text(el)


def field_errors(soup: Tag) -> dict[str, str]:
    """Field name -> the message shown next to it, for every field showing one."""
    return {el["id"].removesuffix("-error"): _error_text(el) for el in soup.select(".error-message[id$='-error']")}


def error_summary(soup: Tag) -> list[str]:
    """The messages listed in the error summary at the top of a form (none: [])."""
    return texts(soup, ".error-summary li")


def notice(soup: Tag) -> str:
    """The text of the status notice (``role=status``); it must exist."""
    return text(soup, "[role=status]")


def input_value(soup: Tag, name: str) -> str:
    """The value of the form control called ``name``; it must exist."""
    return attr(soup, f"[name='{name}']", "value")


def input_ids(soup: Tag) -> set[str]:
    """The ids of every (non-hidden) input."""
    return {el["id"] for el in soup.select("input[id]") if el.get("type") != "hidden"}


def tracking_number(soup: Tag) -> str:
    """The registration tracking number (or User ID) shown in large type."""
    return text(soup, ".tracking-number")


def link_href(soup: Tag, link_text: str) -> str:
    """The href of the link whose (normalised) text is ``link_text``; it must exist."""
    for a in soup.select("a[href]"):
        if norm(a.get_text()) == link_text:
            return a["href"]
    raise AssertionError(f"no link {link_text!r}; the links: {texts(soup, 'a[href]')}")


def definitions(soup: Tag, selector: str = "dl") -> dict[str, str]:
    """A description list (the first ``selector`` selects) as term -> description."""
    dl = element(soup, selector)
    return {norm(dt.get_text()): norm(dt.find_next_sibling("dd").get_text()) for dt in dl.select("dt")}
