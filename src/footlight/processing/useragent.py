"""A session's browser, OS and kind of device, from its User-Agent string.

Browser, OS and device model come from `ua-parser` (the maintained Python port of the uap-core
rules, which are updated as browsers change). uap-core has no notion of a device *type*, so
`device_type` is decided here from what it did find, in this order:

1. ``bot``: uap-core's device family ``Spider`` (its name for crawlers), or a browser family
   that names itself a bot, crawler or spider;
2. ``tablet``: an iPad, Kindle or other device uap-core calls a tablet, BlackBerry Tablet OS,
   a User-Agent saying ``Tablet``, or Android without the ``Mobile`` token (Android phones
   send it, tablets do not);
3. ``mobile``: a phone OS (iOS, Android, Windows Phone, KaiOS...) or a User-Agent with
   ``Mobi`` in it (the token every mobile browser sends);
4. ``desktop``: a desktop OS (Windows, macOS, Linux distributions, Chrome OS, BSDs);
5. ``unknown`` otherwise, and for an empty or missing User-Agent.

A headless browser (HeadlessChrome) is reported as the desktop it runs on, not as a bot: it
is often a test suite recording on purpose. iPadOS ≥ 13 sends a desktop-Mac User-Agent by
default, so such iPads are indistinguishable from Macs here.

Parsing runs a few hundred regular expressions over the string, so its cost grows with the
string's length: only the first `MAX_UA_CHARS` characters are read (real User-Agents are a
few hundred), and results are memoised, since the same User-Agent recurs across sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import ua_parser

DeviceType = Literal["desktop", "mobile", "tablet", "bot", "unknown"]


@dataclass(frozen=True)
class Device:
    browser_name: str | None
    """e.g. "Chrome", "Mobile Safari", "Firefox", "HeadlessChrome", "Googlebot"."""
    browser_version: str | None
    """"major.minor" (just "major" when that is all the User-Agent says)."""
    os_name: str | None
    """e.g. "Windows", "Mac OS X", "iOS", "Android", "Linux"."""
    os_version: str | None
    device_type: DeviceType
    device_model: str | None
    """e.g. "iPhone", "iPad", "Mac", "Pixel 8"; None for a generic desktop or a bot."""


MAX_UA_CHARS = 1024

UNKNOWN = Device(None, None, None, None, "unknown", None)

_BOT_FAMILY = re.compile(r"bot|crawler|spider", re.IGNORECASE)
_TABLET_DEVICE = re.compile(r"iPad|Kindle|Tablet|Playbook|TouchPad", re.IGNORECASE)
_MOBILE_DEVICES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})
_MOBILE_OSES = frozenset(
    {
        "iOS",
        "Android",
        "Windows Phone",
        "Windows Mobile",
        "BlackBerry OS",
        "KaiOS",
        "Firefox OS",
        "Symbian OS",
        "Symbian^3",
        "Symbian^3 Anna",
        "Symbian^3 Belle",
        "Nokia Series 40",
        "Nokia Series 30 Plus",
        "WatchOS",
        "Bada",
        "Sailfish",
        "MeeGo",
        "Maemo",
    }
)
_DESKTOP_OSES = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Mac OS",
        "Chrome OS",
        "Linux",
        "Ubuntu",
        "Kubuntu",
        "Lubuntu",
        "Debian",
        "Linux Mint",
        "Fedora",
        "Red Hat",
        "CentOS",
        "SUSE",
        "openSUSE",
        "Arch Linux",
        "Gentoo",
        "Slackware",
        "Mandriva",
        "Mageia",
        "PCLinuxOS",
        "Puppy",
        "BackTrack",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "BSD",
        "Solaris",
        "SerenityOS",
    }
)
# uap-core's placeholder for "not recognised".
_OTHER = "Other"


def parse_user_agent(ua: str | None) -> Device:
    """Browser, OS and device of a User-Agent string; `UNKNOWN` for None or blank."""
    if ua is None or not ua.strip():
        return UNKNOWN
    return _parse(ua[:MAX_UA_CHARS])


@lru_cache(maxsize=4096)
def _parse(ua: str) -> Device:
    result = ua_parser.parse(ua)
    agent, os, device = result.user_agent, result.os, result.device
    browser_name = _name(agent.family if agent else None)
    os_name = _name(os.family if os else None)
    device_family = _name(device.family if device else None)
    device_type = _device_type(ua, browser_name, os_name, device_family, device)
    model = device.model if device is not None and device_type != "bot" else None
    # uap-core fills placeholder models ("Smartphone", "Tablet") under the brand "Generic",
    # and Chrome's reduced User-Agent sends the model "K" for every Android device.
    if device is not None and (device.brand == "Generic" or model == "K"):
        model = None
    return Device(
        browser_name=browser_name,
        browser_version=_version(agent.major, agent.minor) if agent else None,
        os_name=os_name,
        os_version=_version(os.major, os.minor) if os else None,
        device_type=device_type,
        device_model=model or None,
    )


def _device_type(
    ua: str,
    browser: str | None,
    os: str | None,
    device_family: str | None,
    device: ua_parser.Device | None,
) -> DeviceType:
    if device_family == "Spider" or (browser is not None and _BOT_FAMILY.search(browser)):
        return "bot"
    brand = device.brand if device is not None else None
    if (
        (device_family is not None and _TABLET_DEVICE.search(device_family))
        or (brand is not None and "Tablet" in brand)
        or os == "BlackBerry Tablet OS"
        or "Tablet" in ua
        or (os == "Android" and "Mobile" not in ua)
    ):
        return "tablet"
    if device_family in _MOBILE_DEVICES or os in _MOBILE_OSES or "Mobi" in ua:
        return "mobile"
    if os in _DESKTOP_OSES:
        return "desktop"
    return "unknown"


def _name(family: str | None) -> str | None:
    return family if family and family != _OTHER else None


def _version(major: str | None, minor: str | None) -> str | None:
    if not major:
        return None
    return f"{major}.{minor}" if minor else major
