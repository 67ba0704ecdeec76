"""The asset URLs an rrweb recording makes its replay load, and rewriting them to stored copies.

A replay rebuilds the recorded DOM in the viewer's browser, which then fetches every
stylesheet, font, image and icon the DOM names, from the recorded site, at viewing time: the
assets may have changed or vanished since, or need cookies the viewer lacks. Storing copies
while they still exist and pointing the recording at them keeps replays faithful. This module
is the pure part: it finds those URLs in decoded events and rewrites them in place.

It reads FullSnapshot node trees (element attributes that load something: a stylesheet or icon
`link`'s href, `src` of images and media, `srcset`, `poster`, `background`, SVG `image`/`use`
hrefs, `style` attributes, rrweb's `_cssText`, and `<style>` text), and the incremental
events that add nodes or carry CSS (mutations, stylesheet rules, style declarations, adopted
stylesheets, fonts). Script and iframe sources are left out: the replay never runs scripts,
and a framed document is recorded as nodes of its own. Relative URLs resolve against the latest
Meta event's page URL; only http(s) URLs count, so data:, blob: and javascript: are skipped.

Finding and rewriting share one walk (`_slots`: every string that may hold URLs, with how to
read it) and one tokenizer (`_spans`), so a rewrite changes exactly what `recording_urls`
reports. Events come from browsers, so nothing here trusts their shape: anything unexpected is
skipped, trees are walked with an explicit stack, and CSS scanning is a linear regex with a
cap on results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

MAX_URL_CHARS = 2048
MAX_CSS_URLS = 1000

_URL, _SRCSET, _CSS = "url", "srcset", "css"

_CSS_REF = re.compile(
    # The lookbehind keeps `my-url(` and `myurl(` from reading as url(.
    r"""(?<![\w-])url\(\s*(?:"([^"\n]*)"|'([^'\n]*)'|([^"'()\s]+))\s*\)"""
    r"""|@import\s*(?:"([^"\n]*)"|'([^'\n]*)')""",
    re.IGNORECASE,
)
_SRCSET_URL = re.compile(r"[\s,]*(\S*)")
# Descriptors run to the next comma outside parentheses, as the HTML parser reads them.
_SRCSET_DESCRIPTORS = re.compile(r"[^,(]*(?:\([^)]*\)?[^,(]*)*")

_SRC = {"src": _URL}
_SVG_HREF = {"href": _URL, "xlink:href": _URL}
_URL_ATTRIBUTES: dict[str, dict[str, str]] = {
    "img": {"src": _URL, "srcset": _SRCSET},
    "source": {"src": _URL, "srcset": _SRCSET},
    "video": {"src": _URL, "poster": _URL},
    "image": {**_SRC, **_SVG_HREF},
    "use": _SVG_HREF,
    "input": _SRC,
    "audio": _SRC,
    "track": _SRC,
    "embed": _SRC,
}
_ASSET_LINK = {"href": _URL}
_NO_URL_ATTRIBUTES: dict[str, str] = {}
# Any element's style, `_cssText` (rrweb's copy of a link's or style's sheet) and background.
_EVERY_ELEMENT = {"style": _CSS, "_cssText": _CSS, "background": _URL}
# An attribute mutation names only a node id; when the node was not seen, any attribute that
# can name an asset counts (a link's href included, at the cost of page links).
_UNKNOWN_ELEMENT = {
    "src": _URL,
    "href": _URL,
    "xlink:href": _URL,
    "poster": _URL,
    "srcset": _SRCSET,
}
# Not "manifest": a replay never reads the web app manifest.
_ASSET_RELS = {
    "stylesheet",
    "icon",
    "apple-touch-icon",
    "apple-touch-icon-precomposed",
    "mask-icon",
}
# Preloads and prefetches count only for what a rendered page uses, not scripts or data.
_PRELOAD_AS = {"style", "font", "image"}

_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "" if char in "\t\n\r" else f"%{ord(char):02X}"


_Slot = tuple[Any, Any, str, str | None]  # container, key (container[key] is a str), kind, base


def absolute(url: str, base: str | None) -> str | None:
    """`url` (surrounding whitespace ignored) resolved against `base`, without its fragment, if
    that is an http(s) URL with a host and at most MAX_URL_CHARS long; otherwise None."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        return None
    # As a browser's URL parser does: tabs and newlines dropped, other spaces and controls
    # percent-encoded, so each URL has one spelling and a fetcher can send it.
    url = _UNSAFE.sub(_escape, url)
    try:
        resolved = urldefrag(urljoin(base, url) if base else url).url
        parts = urlsplit(resolved)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    # One spelling per URL, as callers key stored copies by it; the rest stays as written.
    resolved = parts.scheme + resolved[len(parts.scheme) :]
    return resolved if len(resolved) <= MAX_URL_CHARS else None


def recording_urls(events: Iterable[Any]) -> Iterator[str]:
    """Absolute asset URLs the events reference, in order, possibly repeated."""
    for container, key, kind, base in _slots(events):
        for _start, _end, url in _spans(container[key], kind, base):
            yield url


def stylesheet_urls(css: str, base: str) -> list[str]:
    """Absolute URLs of a stylesheet's url(...) and @import targets (at most MAX_CSS_URLS)."""
    return [url for _start, _end, url in _spans(css, _CSS, base)]


def rewrite_events(events: list[Any], local: Callable[[str], str | None]) -> None:
    """Replace, in place, each URL `recording_urls` finds where `local(url)` gives a string."""
    for container, key, kind, base in _slots(events):
        value = container[key]
        rewritten = _rewrite(value, kind, base, local)
        if rewritten is not value:
            container[key] = rewritten


def rewrite_stylesheet(css: str, base: str, local: Callable[[str], str | None]) -> str:
    """`css` with url(...) and @import targets replaced where `local(url)` gives a string."""
    return _rewrite(css, _CSS, base, local)


def _rewrite(text: str, kind: str, base: str | None, local: Callable[[str], str | None]) -> str:
    # The replacement goes in verbatim: callers give URLs that need no CSS or srcset quoting.
    pieces: list[str] = []
    done = 0
    for start, end, url in _spans(text, kind, base):
        replacement = local(url)
        if replacement is not None:
            pieces += (text[done:start], replacement)
            done = end
    if not pieces:
        return text  # the same object, so callers can tell nothing changed
    pieces.append(text[done:])
    return "".join(pieces)


def _spans(text: str, kind: str, base: str | None) -> Iterator[tuple[int, int, str]]:
    """(start, end, absolute URL) of each asset reference in `text`, read as `kind`."""
    if kind == _URL:
        url = _target(text, base)
        if url is not None:
            yield len(text) - len(text.lstrip()), len(text.rstrip()), url
    elif kind == _SRCSET:
        position = 0
        while True:
            match = _SRCSET_URL.match(text, position)
            assert match is not None  # both parts of the pattern may match nothing
            start, end = match.span(1)
            if start == end:
                return
            candidate = text[start:end]
            if candidate.endswith(","):  # "a.png,b.png 2x": a candidate without descriptors
                end -= len(candidate) - len(candidate.rstrip(","))
                position = end
            else:
                descriptors = _SRCSET_DESCRIPTORS.match(text, end)
                assert descriptors is not None
                position = descriptors.end()
            url = _target(text[start:end], base)
            if url is not None:
                yield start, end, url
    else:
        found = 0
        for match in _CSS_REF.finditer(text):
            group = match.lastindex or 0
            url = _target(match.group(group), base)
            if url is not None:
                yield *match.span(group), url
                found += 1
                if found >= MAX_CSS_URLS:
                    return


def _target(reference: str, base: str | None) -> str | None:
    reference = reference.strip()
    # "" and "#id" (SVG `use`, `fill: url(#gradient)`) resolve to the page itself.
    if not reference or reference.startswith("#"):
        return None
    return absolute(reference, base)


def _slots(events: Iterable[Any]) -> Iterator[_Slot]:
    """Every string in the events that may hold asset URLs, in event and document order."""
    base: str | None = None
    # Node id -> the URL attributes of that element, for attribute mutations to look up.
    elements: dict[int, dict[str, str]] = {}
    for event in events:
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict):
            continue
        kind = event.get("type")
        if kind == 4:
            href = data.get("href")
            base = href if isinstance(href, str) else base
        elif kind == 2:
            elements.clear()  # a new snapshot numbers its nodes afresh
            yield from _node_slots(data.get("node"), base, elements)
        elif kind == 3:
            yield from _incremental_slots(data, base, elements)


def _incremental_slots(
    data: dict[Any, Any], base: str | None, elements: dict[int, dict[str, str]]
) -> Iterator[_Slot]:
    source = data.get("source")
    if source == 0:  # Mutation
        for added in _dicts(data.get("adds")):
            yield from _node_slots(added.get("node"), base, elements)
        for change in _dicts(data.get("attributes")):
            attributes = change.get("attributes")
            if isinstance(attributes, dict):
                node = change.get("id")
                known = elements.get(node) if isinstance(node, int) else None
                yield from _attribute_slots(
                    attributes, _UNKNOWN_ELEMENT if known is None else known, base
                )
        # A text mutation's node is often a <style>'s text; other text rarely holds url().
        yield from _string_slots(_dicts(data.get("texts")), "value", base)
    elif source == 8:  # StyleSheetRule
        yield from _string_slots(_dicts(data.get("adds")), "rule", base)
        yield from _string_slots((data,), "replace", base)
        yield from _string_slots((data,), "replaceSync", base)
    elif source == 10:  # Font
        font = data.get("fontSource")
        # With `buffer` the source is the font's bytes as a JSON array, not a URL.
        if isinstance(font, str) and data.get("buffer") is not True:
            yield data, "fontSource", _CSS if "url(" in font.lower() else _URL, base
    elif source == 13:  # StyleDeclaration
        yield from _string_slots(_dicts((data.get("set"),)), "value", base)
    elif source == 15:  # AdoptedStyleSheet
        for sheet in _dicts(data.get("styles")):
            yield from _string_slots(_dicts(sheet.get("rules")), "rule", base)


def _node_slots(
    root: Any, base: str | None, elements: dict[int, dict[str, str]]
) -> Iterator[_Slot]:
    # An explicit stack: recorded trees can be far deeper than Python's recursion limit.
    stack = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == 2:
            tag, attributes = node.get("tagName"), node.get("attributes")
            if isinstance(tag, str) and isinstance(attributes, dict):
                urls = _element_urls(tag.lower(), attributes)
                node_id = node.get("id")
                if isinstance(node_id, int):
                    elements[node_id] = urls
                yield from _attribute_slots(attributes, urls, base)
        elif kind == 3 and node.get("isStyle") is True:
            yield from _string_slots((node,), "textContent", base)
        children = node.get("childNodes")
        if isinstance(children, list):
            stack.extend(reversed(children))


def _element_urls(tag: str, attributes: dict[Any, Any]) -> dict[str, str]:
    if tag != "link":
        return _URL_ATTRIBUTES.get(tag, _NO_URL_ATTRIBUTES)
    rel, kind = attributes.get("rel"), attributes.get("as")
    rels = set(rel.lower().split()) if isinstance(rel, str) else set()
    if rels & _ASSET_RELS:
        return _ASSET_LINK
    if rels & {"preload", "prefetch"} and isinstance(kind, str) and kind.lower() in _PRELOAD_AS:
        return _ASSET_LINK
    return _NO_URL_ATTRIBUTES


def _attribute_slots(
    attributes: dict[Any, Any], urls: dict[str, str], base: str | None
) -> Iterator[_Slot]:
    # rewrite_events assigns into `attributes` while this generator is paused: safe, as it
    # only replaces values of existing keys.
    for name, value in attributes.items():
        kind = urls.get(name) or _EVERY_ELEMENT.get(name)
        if kind is None:
            continue
        if isinstance(value, str):
            yield attributes, name, kind, base
        elif name == "style" and isinstance(value, dict):
            # rrweb's style diff: property -> value, [value, priority], or false when removed.
            for prop, declared in value.items():
                if isinstance(declared, str):
                    yield value, prop, _CSS, base
                elif isinstance(declared, list) and declared and isinstance(declared[0], str):
                    yield declared, 0, _CSS, base


def _string_slots(
    containers: Iterable[dict[Any, Any]], key: str, base: str | None
) -> Iterator[_Slot]:
    for container in containers:
        if isinstance(container.get(key), str):
            yield container, key, _CSS, base


def _dicts(items: Any) -> Iterator[dict[Any, Any]]:
    if isinstance(items, list | tuple):
        yield from (item for item in items if isinstance(item, dict))
