"""User-Agent parsing on real User-Agent strings of the browsers and bots sessions come from.

Proven here: browser, OS (versions as "major.minor") and device model come through from
ua-parser; the device type is desktop, mobile, tablet, bot or unknown as the module
docstring defines; blank input is unknown; an absurdly long string is cut, not slow.
"""

from __future__ import annotations

import pytest

from footlight.processing.useragent import MAX_UA_CHARS, UNKNOWN, Device, _parse, parse_user_agent

HEADLESS_CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.118 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
FIREFOX_MACOS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CHROME_PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.113 Mobile Safari/537.36"
)
CHROME_ANDROID_REDUCED = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        pytest.param(
            HEADLESS_CHROME_LINUX,
            Device("HeadlessChrome", "156.0", "Linux", None, "desktop", None),
            id="headless-chrome-linux",
        ),
        pytest.param(
            CHROME_WINDOWS,
            # Windows NT 10.0 is reported as just "10".
            Device("Chrome", "124.0", "Windows", "10", "desktop", None),
            id="chrome-windows",
        ),
        pytest.param(
            SAFARI_IPHONE,
            Device("Mobile Safari", "17.4", "iOS", "17.4", "mobile", "iPhone"),
            id="safari-iphone",
        ),
        pytest.param(
            SAFARI_IPAD,
            Device("Mobile Safari", "16.6", "iOS", "16.6", "tablet", "iPad"),
            id="safari-ipad",
        ),
        pytest.param(
            FIREFOX_MACOS,
            Device("Firefox", "125.0", "Mac OS X", "10.15", "desktop", "Mac"),
            id="firefox-macos",
        ),
        pytest.param(
            GOOGLEBOT,
            Device("Googlebot", "2.1", None, None, "bot", None),
            id="googlebot",
        ),
        pytest.param(
            CHROME_PIXEL,
            Device("Chrome Mobile", "124.0", "Android", "14", "mobile", "Pixel 8"),
            id="chrome-pixel",
        ),
        pytest.param(
            CHROME_ANDROID_REDUCED,
            # Chrome's reduced User-Agent says "K" for every model: not a model.
            Device("Chrome Mobile", "124.0", "Android", "10", "mobile", None),
            id="chrome-android-reduced",
        ),
        pytest.param(
            CHROME_ANDROID_TABLET,
            # Android without "Mobile" is a tablet.
            Device("Chrome", "124.0", "Android", "13", "tablet", "SM-X700"),
            id="chrome-android-tablet",
        ),
        pytest.param(
            "curl/8.5.0",
            Device("curl", "8.5", None, None, "unknown", None),
            id="curl",
        ),
    ],
)
def test_parse_user_agent(ua: str, expected: Device) -> None:
    assert parse_user_agent(ua) == expected


@pytest.mark.parametrize("ua", [None, "", "   "])
def test_missing_user_agent_is_unknown(ua: str | None) -> None:
    assert parse_user_agent(ua) == UNKNOWN
    assert Device(None, None, None, None, "unknown", None) == UNKNOWN


def test_a_repeated_user_agent_is_parsed_once() -> None:
    # A parse takes about a millisecond; every session of a browser repeats its string.
    parse_user_agent(CHROME_WINDOWS)
    before = _parse.cache_info()
    for _ in range(100):
        parse_user_agent(CHROME_WINDOWS)
    after = _parse.cache_info()
    assert after.misses == before.misses
    assert after.hits == before.hits + 100


def test_only_the_start_of_an_absurdly_long_user_agent_is_read() -> None:
    # 300 KB would take seconds to parse: what lies past MAX_UA_CHARS is not looked at.
    padding = " " * MAX_UA_CHARS
    assert parse_user_agent(CHROME_PIXEL + padding + " Googlebot/2.1").device_type != "bot"
    assert parse_user_agent(CHROME_PIXEL + " Googlebot/2.1").device_type == "bot"
