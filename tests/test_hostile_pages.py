"""The digits page under crafted canvas data and hostile uploads: a message, never an exception.

The canvas component hands the page whatever string the browser put in its state; here that
string is replaced (guard.canvas_data_url patched) by each crafted payload of issue 17, and the
page runs in AppTest. Uploads go through AppTest's uploader.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from advcore import preprocess
from pages import guard

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "digits.py")
TIMEOUT = 240


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6,
                                                            0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))


def _url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _tiff() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (280, 280), "white").save(buf, format="TIFF")
    return buf.getvalue()


def _seven() -> Image.Image:
    img = Image.new("RGBA", (280, 280), "white")
    ImageDraw.Draw(img).line([(60, 50), (200, 50), (110, 240)], fill="black", width=22)
    return img


CANVASES = {
    "6000 px": (_url(_header(6000, 6000)), "6000×6000"),
    "20000 px": (_url(_header(20000, 20000)), "enormous"),
    "TIFF as PNG": (_url(_tiff()), "PNG"),
    "BMP": ("data:image/bmp;base64,Qk0=", "PNG"),
    "bad base64": (preprocess.CANVAS_PREFIX + "iVBORw0KGgo", "not valid base64"),
    "8 MB": (preprocess.CANVAS_PREFIX + "A" * 8_000_000, "MB"),
    "not a data URL": ("javascript:alert(1)", "PNG"),
}


def draw_page(monkeypatch: pytest.MonkeyPatch, url: str | None) -> AppTest:
    monkeypatch.setattr(guard, "canvas_data_url", lambda canvas: url)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-linear"
    at.run()
    at.button_group(key="digits.index.source").set_value("Draw").run()
    return at


@pytest.mark.parametrize("name", CANVASES)
def test_crafted_canvas_data_gives_a_message_not_an_exception(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    url, expected = CANVASES[name]
    at = draw_page(monkeypatch, url)
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert expected in errors and "padding" not in errors.lower()
    assert not at.get("html")  # no digit, no panels


def test_a_real_drawing_still_becomes_a_digit(monkeypatch: pytest.MonkeyPatch) -> None:
    at = draw_page(monkeypatch, _url(_png(_seven())))
    assert not at.exception and not at.error
    assert any("data-probabilities" in e.proto.body for e in at.get("html"))


def test_a_hostile_file_name_is_plain_short_text() -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-linear"
    at.run()
    at.button_group(key="digits.index.source").set_value("Upload").run()
    name = "**bold** [Login](//e.vil) $x^2$ ![](//e.vil/i.png)\n" + "x" * 300 + ".png"
    at.get("file_uploader")[0].upload(name, b"not a picture", "image/png")
    at.run()
    assert not at.exception
    shown = [t.value for t in at.text]
    assert shown == ["File: " + name.replace("\n", "�")[:guard.NAME_CHARS - 1] + "…"]
    # The name appears nowhere that renders markdown.
    for element in (*at.error, *at.info, *at.markdown, *at.caption, *at.warning):
        assert "e.vil" not in element.value
