"""pages/guard.py, piece by piece: what each protection refuses and what it lets through.

The end-to-end proofs (a real clear_cache message on the websocket, an upload flood, a closed
tab) are in tests/browser/test_hostile.py; these pin the rules on Streamlit's own objects.
"""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.runtime import Runtime
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from pages import guard


def test_install_wraps_each_method_once() -> None:
    guard.install()
    first = (AppSession.handle_backmsg, MemoryUploadedFileManager.add_file,
             Runtime.disconnect_session)
    guard.install()
    assert guard.installed()
    assert first == (AppSession.handle_backmsg, MemoryUploadedFileManager.add_file,
                     Runtime.disconnect_session)


def test_clear_cache_is_ignored_and_every_other_message_handled() -> None:
    handled: list[str | None] = []

    def original(self: Any, msg: BackMsg) -> None:
        handled.append(msg.WhichOneof("type"))

    wrapped = guard._ignore_clear_cache(original)

    class Session:
        id = "s1"

    wrapped(Session(), BackMsg(clear_cache=True))
    wrapped(Session(), BackMsg(app_heartbeat=True))
    wrapped(Session(), BackMsg(stop_script=True))
    assert handled == ["app_heartbeat", "stop_script"]


def rec(file_id: str, size: int) -> UploadedFileRec:
    return UploadedFileRec(file_id=file_id, name=f"{file_id}.png", type="image/png",
                           data=b"\0" * size)


@pytest.fixture
def uploads() -> MemoryUploadedFileManager:
    guard.install()
    return MemoryUploadedFileManager("/_stcore/upload_file")


def test_a_session_keeps_only_its_newest_uploads(uploads: MemoryUploadedFileManager) -> None:
    for i in range(30):
        uploads.add_file("flood", rec(f"f{i}", 1000))
    uploads.add_file("other", rec("o", 10))
    kept = uploads.file_storage["flood"]
    assert list(kept) == ["f28", "f29"][-guard.UPLOADS_PER_SESSION:]
    assert [f.file_id for f in uploads.get_files("other", ["o"])] == ["o"]
    stats = uploads.get_stats()
    assert sum(s.byte_length for v in stats.values() for s in v) == 2 * 1000 + 10


def test_uploads_beyond_the_server_total_are_refused(uploads: MemoryUploadedFileManager,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "UPLOAD_BYTES_TOTAL", 5000)
    for session in ("a", "b"):
        uploads.add_file(session, rec(session, 2000))
    with pytest.raises(guard.UploadRefused):
        uploads.add_file("c", rec("c", 2000))
    assert "c" not in uploads.file_storage or not uploads.file_storage["c"]


@pytest.mark.parametrize(("name", "shown"), [
    ("seven.png", "seven.png"),
    ("a\nb\r\tc\x00.png", "a�b��c�.png"),
    ("\u202egnp.exe", "�gnp.exe"),  # a right-to-left override would disguise the extension
    ("x" * 200 + ".png", "x" * 59 + "…"),
])
def test_file_names_become_short_printable_text(name: str, shown: str) -> None:
    assert guard.plain_name(name) == shown


def test_should_stop_outside_a_streamlit_run_is_false() -> None:
    assert guard.should_stop() is False


def test_canvas_data_url_reads_only_a_string() -> None:
    class Result:
        _image_data_url = "data:image/png;base64,AAAA"

    class Odd:
        _image_data_url = 42

    assert guard.canvas_data_url(Result()) == "data:image/png;base64,AAAA"
    assert guard.canvas_data_url(Odd()) is None
    assert guard.canvas_data_url(object()) is None


def test_a_session_end_gives_freed_heap_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """On glibc, install() caps the malloc arenas and starts the trimmer; a disconnect's
    request makes it call malloc_trim (waited for, not slept on)."""
    import ctypes.util
    import time

    guard.install()
    if ctypes.util.find_library("c") is None or guard._TRIM._libc is None:
        pytest.skip("not glibc: nothing to trim")
    before = guard._TRIM.trims
    guard._TRIM.request()
    deadline = time.monotonic() + guard.TRIM_EVERY_S + 10
    while guard._TRIM.trims == before:
        assert time.monotonic() < deadline, "malloc_trim was never called"
        time.sleep(0.05)
