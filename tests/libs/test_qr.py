"""libs/qr.py: a URL as a QR code, SVG and PNG (segno). The images are checked as
a client would: the PNG's signature and IHDR size, the SVG parsed as XML, and both
decoded back to the URL (zxing-cpp, a dev dependency) from the PNG's own pixels."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib

import pytest

from libs import qr

URL = "https://track.example.com/c/AbC123?sub1=x&y=<z>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == PNG_SIGNATURE
    out, pos = [], 8
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        assert zlib.crc32(kind + data) == struct.unpack(">I", png[pos + 8 + n : pos + 12 + n])[0]
        out.append((kind, data))
        pos += 12 + n
    return out


def png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """A 1-bit grayscale PNG's pixels as 8-bit gray (0 black, 255 white), filters undone."""
    chunks = png_chunks(png)
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, color_type) == (1, 0)
    raw = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    stride = (width + 7) // 8
    prev = bytearray(stride)
    out = bytearray()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 1] if i else 0
            b = prev[i]
            c = prev[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        out.extend(255 if (line[x // 8] >> (7 - x % 8)) & 1 else 0 for x in range(width))
    return width, height, bytes(out)


def parse_svg(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314  # our own rendering, not a stranger's document


def decode(png: bytes) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    width, height, pixels = png_pixels(png)

    class Gray:
        __array_interface__ = {"shape": (height, width), "typestr": "|u1", "data": pixels, "version": 3}

    return [r.text for r in zxingcpp.read_barcodes(Gray())]


@pytest.mark.parametrize("scale", [1, 4, 8, 40])
def test_png_is_a_png_of_the_size_the_scale_says(scale: int) -> None:
    png = qr.render(URL, "png", scale)
    kind, ihdr = png_chunks(png)[0]
    width, height = struct.unpack(">II", ihdr[:8])
    assert kind == b"IHDR" and width == height
    modules = width // scale
    assert width % scale == 0 and (modules - 2 * qr.BORDER - 17) % 4 == 0  # version v: 17 + 4v modules
    assert png_chunks(png)[-1][0] == b"IEND"


@pytest.mark.parametrize("scale", [1, 3, 8])
def test_png_decodes_back_to_the_url(scale: int) -> None:
    assert decode(qr.render(URL, "png", scale)) == [URL]


def test_svg_is_well_formed_xml_with_the_url_escaped() -> None:
    svg = qr.render(URL, "svg", 5)
    root = parse_svg(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    side = int(root.attrib["width"])
    assert side == int(root.attrib["height"]) and side % 5 == 0
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == URL
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    assert not svg.startswith(b"<?xml")  # inlinable in an HTML page as it is


def test_same_url_same_image_and_the_svg_matches_the_png() -> None:
    assert qr.render(URL, "svg", 2) == qr.render(URL, "svg", 2)
    png_side = struct.unpack(">I", png_chunks(qr.render(URL, "png", 2))[0][1][:4])[0]
    assert int(parse_svg(qr.render(URL, "svg", 2)).attrib["width"]) == png_side


@pytest.mark.parametrize(
    ("url", "fmt", "scale", "word"),
    [(URL, "gif", 8, "format"), (URL, "svg", 0, "scale"), (URL, "png", 41, "scale"), ("", "svg", 8, "URL"),
     ("https://x.example/" + "a" * 2100, "svg", 8, "URL")],
)  # fmt: skip
def test_bad_arguments_are_refused(url: str, fmt: str, scale: int, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        qr.render(url, fmt, scale)  # type: ignore[arg-type]
