"""core.asset_refs: which URLs in rrweb events a replay loads, and rewriting exactly those."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footlight.core.asset_refs import (
    MAX_CSS_URLS,
    MAX_URL_CHARS,
    absolute,
    recording_urls,
    rewrite_events,
    rewrite_stylesheet,
    stylesheet_urls,
)
from tests.helpers.paths import FIXTURES

PAGE = "https://shop.example/app/page.html"


def meta(href: str = PAGE) -> dict[str, Any]:
    return {"type": 4, "data": {"href": href, "width": 800, "height": 600}, "timestamp": 1}


def element(tag: str, node_id: int, *children: Any, **attributes: Any) -> dict[str, Any]:
    return {
        "type": 2,
        "id": node_id,
        "tagName": tag,
        "attributes": attributes,
        "childNodes": list(children),
    }


def style_text(css: str, node_id: int = 99) -> dict[str, Any]:
    return {"type": 3, "id": node_id, "textContent": css, "isStyle": True}


def snapshot(*nodes: Any) -> dict[str, Any]:
    html = element("html", 2, element("head", 3), element("body", 4, *nodes))
    return {"type": 2, "data": {"node": {"type": 0, "id": 1, "childNodes": [html]}}}


def incremental(source: int, **data: Any) -> dict[str, Any]:
    return {"type": 3, "data": {"source": source, **data}, "timestamp": 2}


def urls(*events: Any) -> list[str]:
    return list(recording_urls([meta(), *events]))


def rewritten(events: list[Any], mapping: dict[str, str]) -> list[Any]:
    """A rewritten copy of `events`; also checks rewrite asks about exactly what is found."""
    asked: list[str] = []

    def local(url: str) -> str | None:
        asked.append(url)
        return mapping.get(url)

    copied = copy.deepcopy(events)
    rewrite_events(copied, local)
    assert asked == list(recording_urls(events))
    return copied


def captured_events() -> list[Any]:
    """Every rrweb event the real highlight.run 10.7.5 SDK pushed in the captured session,
    decoded as processing decodes them."""
    events: list[Any] = []
    for line in (FIXTURES / "highlight-run-10.7.5-requests.jsonl").read_text().splitlines():
        body = json.loads(line)["body"]
        if body["operationName"] == "PushSessionEvents":
            payload = msgspec.json.decode(
                gzip.decompress(base64.b64decode(body["variables"]["data"]))
            )
            events += payload["events"]["events"]
    return events


def test_a_real_recording_is_read_and_left_alone() -> None:
    events = captured_events()
    assert {e["type"] for e in events} >= {2, 3, 4}
    # The harness page styles itself inline (a link's _cssText) and loads one script: the
    # replay never runs scripts, so it has no asset to keep.
    text = json.dumps(events)
    assert '"src": "http://localhost:37415/config.js"' in text
    assert '"_cssText": "body {' in text
    assert list(recording_urls(events)) == []
    assert rewritten(events, {"http://localhost:37415/config.js": "/stored"}) == events

    # The same recording with an image added to its snapshot: found, rewritten, nothing else.
    with_image = copy.deepcopy(events)
    snapshot_event = next(e for e in with_image if e["type"] == 2)
    body = snapshot_event["data"]["node"]["childNodes"][1]["childNodes"][2]
    body["childNodes"].append(element("img", 9000, src="/logo.png"))
    assert list(recording_urls(with_image)) == ["http://localhost:37415/logo.png"]
    after = rewritten(with_image, {"http://localhost:37415/logo.png": "/stored/1"})
    assert json.dumps(after) == json.dumps(with_image).replace('"/logo.png"', '"/stored/1"')


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://a.example/x.png", None, "https://a.example/x.png"),
        ("  ../img/x.png#frag \n", "https://a.example/css/s.css", "https://a.example/img/x.png"),
        ("//cdn.example/f.woff2", "https://a.example/", "https://cdn.example/f.woff2"),
        ("HTTP://A.example/x", None, "http://A.example/x"),
        # Inner whitespace as browsers treat it: tab and newline dropped, the rest encoded.
        ("/my image.png #top", "https://a.example/", "https://a.example/my%20image.png%20"),
        ("/a\tb\n.png", "https://a.example/", "https://a.example/ab.png"),
        ("x.png", None, None),  # relative with nothing to resolve against
        ("x.png", "about:blank", None),
        ("data:image/png;base64,AAAA", PAGE, None),
        ("javascript:alert(1)", PAGE, None),
        ("blob:https://a.example/uuid", PAGE, None),
        ("ftp://a.example/x", PAGE, None),
        ("file:///etc/passwd", None, None),
        ("https:///nohost", None, None),
        ("http://[::1/x.png", None, None),  # malformed IPv6
        ("https://a.example/" + "a" * MAX_URL_CHARS, None, None),
        ("a" * (MAX_URL_CHARS - 10), "https://a.example/dir/", None),  # too long once joined
    ],
)
def test_absolute(url: str, base: str | None, expected: str | None) -> None:
    assert absolute(url, base) == expected


def test_a_stylesheet_link_and_its_inlined_text() -> None:
    css = '@import "print.css" print; @import url(https://fonts.example/f.css); a{b:url(i.png)}'
    link = element(
        "link", 5, rel="stylesheet", href="https://shop.example/s.css", _cssText=css, id="x"
    )
    assert urls(snapshot(link)) == [
        "https://shop.example/s.css",
        "https://shop.example/app/print.css",
        "https://fonts.example/f.css",
        "https://shop.example/app/i.png",
    ]
    mapping = {"https://shop.example/s.css": "/a/1", "https://fonts.example/f.css": "/a/2"}
    after = rewritten([meta(), snapshot(link)], mapping)
    attributes = after[1]["data"]["node"]["childNodes"][0]["childNodes"][1]["childNodes"][0][
        "attributes"
    ]
    assert attributes == {
        "rel": "stylesheet",
        "href": "/a/1",
        "_cssText": '@import "print.css" print; @import url(/a/2); a{b:url(i.png)}',
        "id": "x",
    }


@pytest.mark.parametrize(
    ("rel", "extra", "is_asset"),
    [
        ("icon", {}, True),
        ("shortcut icon", {}, True),
        ("apple-touch-icon", {}, True),
        ("mask-icon", {}, True),
        ("alternate stylesheet", {}, True),
        ("preload", {"as": "font"}, True),
        ("prefetch", {"as": "image"}, True),
        ("preload", {"as": "script"}, False),
        ("modulepreload", {}, False),
        ("manifest", {}, False),
        ("canonical", {}, False),
        ("preconnect", {}, False),
        (None, {}, False),
    ],
)
def test_which_links_are_assets(rel: str | None, extra: dict[str, str], is_asset: bool) -> None:
    attributes: dict[str, Any] = {"href": "/thing", **extra}
    if rel is not None:
        attributes["rel"] = rel
    found = urls(snapshot(element("link", 5, **attributes)))
    assert found == (["https://shop.example/thing"] if is_asset else [])


def test_images_and_their_srcset_descriptors() -> None:
    img = element(
        "img",
        10,
        src="/img/a.png",
        srcset="/img/a-2x.png 2x, https://cdn.example/a-big.png 800w ,data:image/png;base64,x 3x",
        alt="url(nope.png)",
    )
    assert urls(snapshot(img)) == [
        "https://shop.example/img/a.png",
        "https://shop.example/img/a-2x.png",
        "https://cdn.example/a-big.png",
    ]
    after = rewritten([meta(), snapshot(img)], {"https://shop.example/img/a-2x.png": "/s/2"})
    got = after[1]["data"]["node"]["childNodes"][0]["childNodes"][1]["childNodes"][0]
    assert got["attributes"] == {
        "src": "/img/a.png",
        "srcset": "/s/2 2x, https://cdn.example/a-big.png 800w ,data:image/png;base64,x 3x",
        "alt": "url(nope.png)",
    }


def test_srcset_commas_are_read_as_browsers_read_them() -> None:
    srcset = "a.png 1x,b.png 2x, c,d.png (x, y) 100w,, e.png,f.png ,  g.png,"
    assert urls(snapshot(element("source", 10, srcset=srcset))) == [
        "https://shop.example/app/a.png",
        "https://shop.example/app/b.png",
        "https://shop.example/app/c,d.png",  # a comma inside a URL stays in it
        "https://shop.example/app/e.png,f.png",  # no space after the comma: one URL
        "https://shop.example/app/g.png",
    ]
    # An unclosed parenthesis runs the descriptors to the end, commas and all.
    unclosed = "h.png 1x (" + " (" * 50_000 + ", i.png 2x"
    assert urls(snapshot(element("img", 10, srcset=unclosed))) == ["https://shop.example/app/h.png"]


def test_media_svg_and_background_attributes() -> None:
    nodes = [
        element("video", 10, src="/v.mp4", poster="/poster.jpg"),
        element("audio", 11, src="/a.mp3"),
        element("track", 12, src="/subs.vtt"),
        element("input", 13, type="image", src="/button.png"),
        element("embed", 14, src="/thing.svg"),
        element("image", 15, href="/svg-a.png", **{"xlink:href": "/svg-b.png"}),
        element("use", 16, href="/sprite.svg#cart", **{"xlink:href": "#local-symbol"}),
        element("td", 17, background="/table-bg.gif"),
        element("div", 18, src="/not-an-asset", href="/neither"),
    ]
    assert urls(snapshot(*nodes)) == [
        f"https://shop.example{path}"
        for path in (
            "/v.mp4",
            "/poster.jpg",
            "/a.mp3",
            "/subs.vtt",
            "/button.png",
            "/thing.svg",
            "/svg-a.png",
            "/svg-b.png",
            "/sprite.svg",
            "/table-bg.gif",
        )
    ]


def test_scripts_iframes_and_page_links_are_not_assets() -> None:
    nodes = [
        element("script", 10, src="https://shop.example/app.js"),
        element("iframe", 11, src="https://shop.example/frame.html"),
        element("a", 12, href="https://shop.example/next"),
        element("img", 13, rr_dataURL="data:image/png;base64,AAAA"),
        element("img", 14, src="javascript:void(0)", srcset="blob:https://shop.example/1 2x"),
        element("img", 15, src="data:image/gif;base64,R0lGOD", style="fill: url(#gradient)"),
        element("img", 16, src="", srcset=""),
    ]
    assert urls(snapshot(*nodes)) == []


def test_style_attributes_and_style_elements() -> None:
    font_face = (
        "@font-face { font-family: Shop; "
        'src: url("/fonts/shop.woff2") format("woff2"), url(/fonts/shop.woff) format("woff"); }'
    )
    nodes = [
        element("div", 10, style="background: url( 'hero.jpg' ) no-repeat; color: red"),
        element("style", 11, style_text(font_face, 12)),
        {"type": 3, "id": 13, "textContent": "plain text url(https://shop.example/no.png)"},
    ]
    assert urls(snapshot(*nodes)) == [
        "https://shop.example/app/hero.jpg",
        "https://shop.example/fonts/shop.woff2",
        "https://shop.example/fonts/shop.woff",
    ]
    after = rewritten(
        [meta(), snapshot(*nodes)],
        {
            "https://shop.example/app/hero.jpg": "/s/hero",
            "https://shop.example/fonts/shop.woff2": "/s/font",
        },
    )
    body = after[1]["data"]["node"]["childNodes"][0]["childNodes"][1]
    assert body["childNodes"][0]["attributes"]["style"] == (
        "background: url( '/s/hero' ) no-repeat; color: red"
    )
    assert body["childNodes"][1]["childNodes"][0]["textContent"] == font_face.replace(
        '"/fonts/shop.woff2"', '"/s/font"'
    )
    assert body["childNodes"][2] == nodes[2]


def test_relative_urls_resolve_against_the_latest_meta_href() -> None:
    events = [
        incremental(0, adds=[{"node": element("img", 20, src="before-meta.png")}]),
        meta("https://one.example/a/"),
        snapshot(element("img", 10, src="x.png")),
        meta("https://two.example/b/c.html"),
        incremental(0, adds=[{"parentId": 4, "node": element("img", 21, src="../y.png")}]),
    ]
    assert list(recording_urls(events)) == [
        "https://one.example/a/x.png",
        "https://two.example/y.png",
    ]


def test_mutations() -> None:
    events = [
        meta(),
        snapshot(
            element("img", 10, src="/old.png"),
            element("script", 11, src="/app.js"),
            element("a", 12, href="/next"),
            element("link", 13, rel="icon", href="/favicon.ico"),
        ),
        incremental(
            0,
            adds=[
                {"parentId": 4, "node": element("div", 30, element("img", 31, src="/added.png"))},
                {"parentId": 4, "node": style_text(".x { background: url(/added-bg.png) }", 32)},
            ],
            attributes=[
                {"id": 10, "attributes": {"src": "/new.png", "class": "big"}},
                {"id": 11, "attributes": {"src": "/other.js"}},  # a known script
                {"id": 12, "attributes": {"href": "/elsewhere"}},  # a known page link
                {"id": 13, "attributes": {"href": "/favicon2.ico"}},
                {"id": 500, "attributes": {"src": "/unknown.png", "srcset": "/u.png 2x"}},
                {"id": 501, "attributes": {"href": "javascript:go()", "poster": None}},
                {
                    "id": 12,
                    "attributes": {
                        "style": {
                            "background-image": "url(/style-object.png)",
                            "mask": ["url(/priority.svg)", "important"],
                            "color": False,
                        }
                    },
                },
                {"id": 10, "attributes": {"style": "background: url(/style-string.png)"}},
            ],
            texts=[{"id": 32, "value": "@import url(/text.css);"}, {"id": 33, "value": None}],
        ),
    ]
    assert list(recording_urls(events)) == [
        f"https://shop.example{path}"
        for path in (
            "/old.png",
            "/favicon.ico",
            "/added.png",
            "/added-bg.png",
            "/new.png",
            "/favicon2.ico",
            "/unknown.png",
            "/u.png",
            "/style-object.png",
            "/priority.svg",
            "/style-string.png",
            "/text.css",
        )
    ]
    mapping = {
        "https://shop.example/new.png": "/s/new",
        "https://shop.example/priority.svg": "/s/mask",
        "https://shop.example/text.css": "/s/text",
    }
    after = rewritten(events, mapping)
    changes = after[2]["data"]
    assert changes["attributes"][0]["attributes"] == {"src": "/s/new", "class": "big"}
    assert changes["attributes"][6]["attributes"]["style"] == {
        "background-image": "url(/style-object.png)",
        "mask": ["url(/s/mask)", "important"],
        "color": False,
    }
    assert changes["texts"][0]["value"] == "@import url(/s/text);"
    assert after[:2] == events[:2]


def test_stylesheet_rules_declarations_adopted_sheets_and_fonts() -> None:
    events = [
        meta(),
        incremental(
            8,
            id=5,
            adds=[{"rule": ".a { background: url(/rule.png) }", "index": 0}],
            replace="@import 'replaced.css';",
            replaceSync=".b { cursor: url(/cursor.cur), auto }",
        ),
        incremental(13, id=5, index=[0], set={"property": "background", "value": "url(/decl.png)"}),
        incremental(
            15,
            id=1,
            styleIds=[1],
            styles=[{"styleId": 1, "rules": [{"rule": "c{d:url(/adopted.png)}"}]}],
        ),
        incremental(10, family="Shop", fontSource='url("https://fonts.example/shop.woff2")'),
        incremental(10, family="Plain", fontSource="/fonts/plain.woff2"),
        incremental(10, family="Bytes", fontSource="[0,1,2]", buffer=True),
        incremental(7, type=0, id=9),  # a media interaction: nothing to read
    ]
    assert list(recording_urls(events)) == [
        "https://shop.example/rule.png",
        "https://shop.example/app/replaced.css",
        "https://shop.example/cursor.cur",
        "https://shop.example/decl.png",
        "https://shop.example/adopted.png",
        "https://fonts.example/shop.woff2",
        "https://shop.example/fonts/plain.woff2",
    ]
    mapping = {
        "https://shop.example/app/replaced.css": "/s/r",
        "https://fonts.example/shop.woff2": "/s/f",
        "https://shop.example/fonts/plain.woff2": "/s/p",
    }
    after = rewritten(events, mapping)
    assert after[1]["data"]["replace"] == "@import '/s/r';"
    assert after[1]["data"]["adds"] == events[1]["data"]["adds"]
    assert after[4]["data"]["fontSource"] == 'url("/s/f")'
    assert after[5]["data"]["fontSource"] == "/s/p"
    assert after[6] == events[6]


def test_a_stylesheet_resolves_against_its_own_url() -> None:
    css = (
        '@import \'base.css\';@import"tight.css";\n@import url("../shared/theme.css") screen;\n'
        ".a{background:URL( ../img/a.png )} .b{background:url('//cdn.example/b.png#x')}\n"
        ".c{mask:url(#m); background:url(data:image/svg+xml;utf8,<svg/>)} .d{e:myurl(x.png)}\n"
        "@font-face{src:local('Shop'), url(f.woff2) format('woff2')}"
    )
    base = "https://static.example/css/site.css"
    assert stylesheet_urls(css, base) == [
        "https://static.example/css/base.css",
        "https://static.example/css/tight.css",
        "https://static.example/shared/theme.css",
        "https://static.example/img/a.png",
        "https://cdn.example/b.png",
        "https://static.example/css/f.woff2",
    ]
    mapping = {"https://static.example/img/a.png": "A", "https://cdn.example/b.png": "B"}
    assert rewrite_stylesheet(css, base, mapping.get) == css.replace("../img/a.png", "A").replace(
        "//cdn.example/b.png#x", "B"
    )
    assert rewrite_stylesheet(css, base, lambda url: None) is css


def test_stylesheet_work_is_bounded() -> None:
    css = "".join(f".c{i}{{background:url(/i/{i}.png)}}" for i in range(MAX_CSS_URLS + 50))
    found = stylesheet_urls(css, "https://a.example/")
    assert len(found) == MAX_CSS_URLS
    assert found[-1] == f"https://a.example/i/{MAX_CSS_URLS - 1}.png"
    after = rewrite_stylesheet(css, "https://a.example/", lambda url: "X")
    assert after.count("url(X)") == MAX_CSS_URLS
    assert after.endswith(f"url(/i/{MAX_CSS_URLS + 49}.png)}}")


def test_a_very_deep_tree_is_walked_without_recursion() -> None:
    depth = 20_000
    root: dict[str, Any] = {"type": 0, "id": 1, "childNodes": []}
    node = root
    for i in range(depth):
        child = element("div", i + 2)
        node["childNodes"].append(child)
        node = child
    node["childNodes"].append(element("img", depth + 2, src="/deep.png"))
    events = [meta(), {"type": 2, "data": {"node": root}}]
    assert list(recording_urls(events)) == ["https://shop.example/deep.png"]
    rewrite_events(events, {"https://shop.example/deep.png": "/s/deep"}.get)
    assert node["childNodes"][0]["attributes"] == {"src": "/s/deep"}


def test_malformed_events_are_skipped() -> None:
    good = element("img", 7, src="/ok.png")
    events: list[Any] = [
        None,
        42,
        "text",
        [meta()],
        {"type": 4},
        {"type": 4, "data": {"href": 5}},
        meta(),
        {"type": 2, "data": None},
        {"type": 2, "data": {"node": [good]}},
        snapshot(
            {"type": 2, "tagName": "img", "attributes": [["src", "/list.png"]]},
            {"type": 2, "attributes": {"src": "/no-tag.png"}},
            {"type": 2, "tagName": 7, "attributes": {"src": "/bad-tag.png"}},
            {"type": 2, "id": [1], "tagName": "img", "attributes": {"src": 5, "srcset": ["x"]}},
            {"type": 3, "isStyle": True, "textContent": {"css": "url(/x.png)"}},
            {"type": 3, "isStyle": "yes", "textContent": "a{b:url(/not-style.png)}"},
            {"type": 2, "tagName": "div", "attributes": {}, "childNodes": {"0": good}},
            {"childNodes": [good]},
        ),
        incremental(0, adds=[None, {"node": 3}], attributes={"id": 1}, texts=[{"value": 5}]),
        incremental(0, attributes=[{"id": {"x": 1}, "attributes": {"src": "/id-dict.png"}}]),
        incremental(0, attributes=[{"id": 1, "attributes": {"style": {"a": [1, 2], "b": []}}}]),
        incremental(8, adds={"rule": "a{b:url(/x.png)}"}, replace=None),
        incremental(13, set="url(/x.png)"),
        incremental(15, styles=[{"rules": None}, None, {"rules": [{"rule": 1}]}]),
        incremental(10, fontSource=None),
        {"type": 3, "data": [1, 2]},
    ]
    before = copy.deepcopy(events)
    # Only the well-formed parts are read (a node with no type still has children walked).
    assert list(recording_urls(events)) == [
        "https://shop.example/ok.png",
        "https://shop.example/id-dict.png",
    ]
    rewrite_events(events, lambda url: None)
    assert events == before


_KEYS = st.sampled_from(
    [
        "type", "data", "href", "node", "childNodes", "tagName", "attributes", "isStyle",
        "textContent", "source", "adds", "texts", "value", "id", "rule", "replace", "set",
        "styles", "rules", "fontSource", "src", "srcset", "style", "_cssText", "rel",
    ]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1, max_value=16),
    st.floats(allow_nan=False),
    st.sampled_from(["img", "link", "stylesheet", "https://a.example/x", "x.png", "url(y.png)"]),
    st.text(alphabet="url()'\" ,#:/ahtps.x@import", max_size=30),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=40,
)


# rrweb's shapes with arbitrary leaves, so that random events often do reach the URL code.
_REFS = st.sampled_from(
    ["x.png", " /a b.png ", "https://a.example/y.png", "data:,x", "#f", "", "u.png 2x, v.png"]
)
_CSS_TEXT = st.builds(
    "".join,
    st.lists(
        st.sampled_from(
            ["url(", "'", '"', ")", "@import ", "a{b:", "}", "url(c.png)", "@import 'd'"]
        )
        | _REFS
    ),
)
_BASES = st.sampled_from(["https://p.example/d/", "about:blank", "http://[::1"])
_ATTRIBUTES = st.dictionaries(
    st.sampled_from(["src", "srcset", "href", "style", "_cssText", "rel", "poster", "as"]),
    _REFS | _CSS_TEXT | _SCALARS | st.dictionaries(st.text(max_size=3), _CSS_TEXT | _JSON),
    min_size=1,
    max_size=4,
)
_NODE = st.recursive(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from([2, 2, 3, 7]),
            "id": st.integers(1, 5),
            "tagName": st.sampled_from(["img", "link", "use", "script", "IMG", "div", 5]),
            "attributes": _ATTRIBUTES,
            "textContent": _CSS_TEXT,
            "isStyle": st.booleans(),
        }
    ),
    lambda children: st.fixed_dictionaries(
        {"type": st.sampled_from([0, 2]), "childNodes": st.lists(children, max_size=3)}
    ),
    max_leaves=10,
)
_INCREMENTAL = st.fixed_dictionaries(
    {
        "source": st.sampled_from([0, 8, 10, 13, 15]),
        "adds": st.lists(st.fixed_dictionaries({"node": _NODE, "rule": _CSS_TEXT}), max_size=2),
        "attributes": st.lists(
            st.fixed_dictionaries({"id": st.integers(1, 5), "attributes": _ATTRIBUTES}),
            max_size=2,
        ),
        "texts": st.lists(st.fixed_dictionaries({"value": _CSS_TEXT | _SCALARS}), max_size=2),
        "replace": _CSS_TEXT,
        "set": st.fixed_dictionaries({"value": _CSS_TEXT}),
        "styles": st.lists(st.fixed_dictionaries({"rules": _JSON}), max_size=2),
        "fontSource": _CSS_TEXT | _REFS,
    },
)
_EVENT = st.one_of(
    st.fixed_dictionaries({"type": st.just(4), "data": st.fixed_dictionaries({"href": _BASES})}),
    st.fixed_dictionaries({"type": st.just(2), "data": st.fixed_dictionaries({"node": _NODE})}),
    st.fixed_dictionaries({"type": st.just(3), "data": _INCREMENTAL}),
)


# 150 drawn recordings a run (~4 s here); 4,000 were run once when the walker was written.
@settings(max_examples=150, deadline=None)
@given(st.lists(_EVENT | _JSON, max_size=5))
def test_random_json_never_raises(events: list[Any]) -> None:
    found = list(recording_urls([meta(), *events]))
    assert all(absolute(url, None) == url for url in found)
    before = copy.deepcopy(events)
    rewrite_events(events, lambda url: None)
    assert events == before
    # Rewriting asks about exactly the URLs found, in the same order.
    asked: list[str] = []

    def local(url: str) -> str:
        asked.append(url)
        return "/stored"

    rewrite_events([meta(), *events], local)
    assert asked == found


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["https://a.example/s.css", "about:blank"]))
def test_random_css_never_raises(css: str, base: str) -> None:
    found = stylesheet_urls(css, base)
    assert all(url.startswith(("http://", "https://")) for url in found)
    assert rewrite_stylesheet(css, base, lambda url: None) == css
