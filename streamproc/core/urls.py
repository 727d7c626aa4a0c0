"""URL helpers. Credentials in camera URLs must never reach logs, manifests or the UI."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "srt", "udp", "tcp")
# Everything up to the *last* "@" of the authority (which ends at / ? # or a space): a
# password may itself hold a raw "@" (rtsp://admin:p@ss@host), and none of it may show.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@")


def is_url(spec: str) -> bool:
    return urlsplit(spec).scheme.lower() in URL_SCHEMES and "://" in spec


def is_device(spec: str) -> bool:
    return spec.startswith("/dev/video") or spec.startswith("v4l2://")


def mask_url(text: str) -> str:
    """Replace ``user:password@`` in any URL inside ``text`` with ``***@``."""
    return _USERINFO.sub(lambda m: m.group("scheme") + "***@", text)


def safe_name(spec: str) -> str:
    """A file-name-safe stem for an input (masked, no scheme or punctuation)."""
    if is_url(spec):
        parts = urlsplit(mask_url(spec))
        host = (parts.hostname or "stream").replace(".", "-")
        tail = parts.path.strip("/").replace("/", "-") or "live"
        return f"{host}-{tail}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec.rsplit("/", 1)[-1]) or "input"
