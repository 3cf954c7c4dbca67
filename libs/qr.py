"""QR codes of links: a URL as an SVG or PNG image, rendered with segno
(maintained, pure Python: its PNG writer needs no Pillow).

Error correction M (15 % of the code may be damaged: a printed code survives a
smudge or a small logo) with segno's ``boost_error`` off, so the same URL is
always the same symbol; border 4 modules, the quiet zone the QR standard asks
for (ISO/IEC 18004), so scanners find it on any background.
"""

from __future__ import annotations

import functools
import io
from typing import Literal

import segno

QrFormat = Literal["svg", "png"]
CONTENT_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
MIN_SCALE = 1
MAX_SCALE = 40
DEFAULT_SCALE = 8
BORDER = 4
# A QR code (version 40, level M) holds at most 2,331 bytes; a click URL is far shorter.
MAX_URL_BYTES = 2000


@functools.lru_cache(maxsize=1024)  # a few KiB each; a printed code's page is fetched again and again
def render(url: str, fmt: QrFormat = "svg", scale: int = DEFAULT_SCALE) -> bytes:
    """``url`` as a QR code image: SVG (``scale`` user units per module, no XML
    declaration, fixed size) or PNG (``scale`` pixels per module). ValueError
    for an empty or too long URL, an unknown format or a scale outside 1..40."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"format must be svg or png, not {fmt!r}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be {MIN_SCALE}..{MAX_SCALE}, not {scale}")
    if not url or len(url.encode()) > MAX_URL_BYTES:
        raise ValueError(f"the URL must have 1..{MAX_URL_BYTES} bytes")
    code = segno.make_qr(url, error="m", boost_error=False)
    out = io.BytesIO()
    if fmt == "svg":
        # xmldecl off: the document can be inlined in an HTML page as it is.
        code.save(out, kind="svg", scale=scale, border=BORDER, xmldecl=False, title=url)
    else:
        code.save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()
