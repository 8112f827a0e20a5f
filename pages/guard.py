"""Server-side protections against a hostile visitor, installed once per process by app.py.

Anyone with the link can open the app, and the websocket and upload endpoints accept more than
the page's own controls ever send. Streamlit 1.67 has no setting for the holes below, so
`install()` closes them by wrapping three Streamlit methods (each wrapper calls the original for
everything it does not change; `installed()` tells whether they are in place):

1. `AppSession.handle_backmsg` ignores a `clear_cache` message. Streamlit obeys it from any
   visitor even with the menu item hidden, and it empties every st.cache_data and
   st.cache_resource for everyone: one message made the same boundary scene cost 9.4 CPU-s
   instead of 0.3. A maintainer clears the caches by restarting the server.
2. `MemoryUploadedFileManager.add_file` keeps at most UPLOADS_PER_SESSION files per session
   (the newest) and UPLOAD_BYTES_TOTAL bytes in all: maxUploadSize caps a file, not a visitor,
   and 60 PUTs from one tab had added 294 MB.
3. `Runtime.disconnect_session` drops the session's uploaded files as its tab goes away.
   Streamlit keeps a disconnected session for reconnection and frees its files only at a
   shutdown that never comes for a session evicted from that store: 314 MB were still held
   150 s after a tab had closed. It also asks for freed heap memory to go back to the OS
   (`_Trimmer`: fewer malloc arenas, malloc_trim after sessions end).

`rerun_on_reconnect()`, called by app.py on every run, brings a tab back after a server restart.

And helpers for the pages:
- `should_stop`, advcore's cancellation hook: long work stops when its tab closes or a newer
  run (the visitor moved a slider) takes over.
- `canvas_data_url`, `take_upload`: the raw bytes a visitor sent, for advcore.preprocess to
  check before anything decodes them; an upload is dropped from the server once read.
- `plain_name`: a visitor's file name as plain, short text.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import unicodedata
from typing import Any

import streamlit as st
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.runtime import Runtime
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

_LOG = logging.getLogger("advplay.guard")
# The digits page takes one file; two leave room for the next one arriving before the last is
# read. At the 5 MB maxUploadSize that is 10 MB a session.
UPLOADS_PER_SESSION = 2
UPLOAD_BYTES_TOTAL = 256 * 2**20
NAME_CHARS = 60
_INSTALL_LOCK = threading.Lock()
_MARK = "_advplay_guard"


def _marked(fn: Any) -> Any:
    setattr(fn, _MARK, True)
    return fn


def _ignore_clear_cache(original: Any) -> Any:
    @functools.wraps(original)
    def handle_backmsg(self: AppSession, msg: Any) -> None:
        if msg.WhichOneof("type") == "clear_cache":
            _LOG.warning("ignored a clear_cache request from session %s: caches are shared by "
                         "every visitor (restart the server to clear them)", self.id)
            return
        original(self, msg)

    return _marked(handle_backmsg)


class UploadRefused(RuntimeError):
    """The server holds as many uploaded bytes as it will; the upload is refused (HTTP 500)."""


def _bounded_uploads(original: Any) -> Any:
    @functools.wraps(original)
    def add_file(self: MemoryUploadedFileManager, session_id: str, file: Any) -> None:
        with self._lock:
            held = sum(len(f.data) for files in self.file_storage.values()
                       for f in files.values())
        if held + len(file.data) > UPLOAD_BYTES_TOTAL:
            _LOG.warning("refused an upload of %d bytes from session %s: %d bytes held",
                         len(file.data), session_id, held)
            raise UploadRefused("the server holds too many uploaded files; try again later")
        original(self, session_id, file)
        with self._lock:
            older = list(self.file_storage.get(session_id, {}))[:-UPLOADS_PER_SESSION]
        for file_id in older:  # dicts keep insertion order: the oldest first
            self.remove_file(session_id, file_id)

    return _marked(add_file)


def _drop_uploads_on_disconnect(original: Any) -> Any:
    @functools.wraps(original)
    def disconnect_session(self: Runtime, session_id: str, **kwargs: Any) -> None:
        original(self, session_id, **kwargs)
        if not self.is_active_session(session_id):
            self.uploaded_file_mgr.remove_session_files(session_id)
            _TRIM.request()

    return _marked(disconnect_session)


class _Trimmer:
    """Hands freed heap memory back to the OS after sessions end (glibc only).

    Every session runs its script in a thread of its own, and glibc gives threads their own
    malloc arenas (up to 8 per core): what a finished session freed stays mapped in the arena
    it came from, so RSS climbs with the number of distinct visits although the caches are
    bounded. install() caps the arenas at MALLOC_ARENAS (as MALLOC_ARENA_MAX would, for arenas
    made from then on), and a disconnect asks this daemon thread to call malloc_trim(0), at
    most once every TRIM_EVERY_S. ctypes releases the GIL during the call.
    """

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._libc: Any = None
        self.trims = 0

    def start(self) -> None:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            _ = libc.malloc_trim, libc.mallopt  # glibc, not musl or macOS
        except (OSError, AttributeError):
            return
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
        self._libc = libc
        self._thread = threading.Thread(target=self._run, name="advplay-malloc-trim",
                                        daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            self._libc.malloc_trim(0)
            self.trims += 1
            time.sleep(TRIM_EVERY_S)  # rate limit: later requests wait for the next round


M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2
TRIM_EVERY_S = 5.0
_TRIM = _Trimmer()


_PATCHES = (
    (AppSession, "handle_backmsg", _ignore_clear_cache),
    (MemoryUploadedFileManager, "add_file", _bounded_uploads),
    (Runtime, "disconnect_session", _drop_uploads_on_disconnect),
)


def install() -> None:
    """Put the three protections in place (once per process; safe to call on every run)."""
    with _INSTALL_LOCK:
        for owner, name, wrap in _PATCHES:
            if not getattr(getattr(owner, name), _MARK, False):
                setattr(owner, name, wrap(getattr(owner, name)))
        if _TRIM._thread is None:
            _TRIM.start()


def installed() -> bool:
    """Whether every protection is in place."""
    return all(getattr(getattr(owner, name), _MARK, False) for owner, name, _ in _PATCHES)


# --- helpers for the pages ---------------------------------------------------------------------


def should_stop() -> bool:
    """advcore's should_stop hook for the current script run (see advcore.cancel).

    Streamlit already asks a run to stop when its tab disconnects, and to rerun when the visitor
    changes a widget, but it acts on the request only at its interrupt points (`st.*` calls),
    and a cached attack on 1,000 digits has none for minutes. This calls the run's own
    interrupt check (the one Streamlit's cache uses while it waits), so a pending stop or
    rerun raises Streamlit's StopException or RerunException right here, exactly as the next
    `st.*` call would: the run ends or restarts as usual, and the half-done result is not
    cached. A session whose tab is gone is asked to stop first, in case its request was already
    consumed. Returns False otherwise, and outside a Streamlit run.
    """
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return False
    if (ctx.script_requests is not None and Runtime.exists()
            and not Runtime.instance().is_active_session(ctx.session_id)):
        ctx.script_requests.request_stop()
    ctx.yield_check()
    return False


def canvas_data_url(canvas: Any) -> str | None:
    """The data URL a streamlit-drawable-canvas result carries, undecoded (None: no drawing).

    Its public `image_data` decodes the string with Pillow in any format and at any size (a
    crafted 187 kB payload cost 3.2 GB); advcore.preprocess.digit_from_canvas_url checks it
    first. streamlit-drawable-canvas 0.13 keeps it in `_image_data_url`; the browser test that
    draws a digit fails if that ever changes.
    """
    url = getattr(canvas, "_image_data_url", None)
    return url if isinstance(url, str) else None


def take_upload(upload: Any) -> bytes:
    """The bytes of an st.file_uploader file, dropped from the server's memory once read.

    Streamlit keeps an uploaded file until the visitor removes it or the session ends; the
    digit made from it is all the page needs, so the page keeps that instead. After this the
    uploader returns None on later runs while its box still shows the file name.
    """
    data = upload.getvalue()
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None and ctx.uploaded_file_mgr is not None:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, upload.file_id)
    return data


def plain_name(name: str, limit: int = NAME_CHARS) -> str:
    """A visitor's file name for st.text: printable characters only, at most `limit` of them.

    Show it with st.text (never markdown): a name is the visitor's text, and as markdown it
    rendered bold, KaTeX, links and a remote image.
    """
    clean = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else "�"
                    for c in str(name))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


# --- a tab that outlives its server ------------------------------------------------------------

RECONNECT_PROBE_S = 3600


@st.fragment(run_every=RECONNECT_PROBE_S)
def _reconnect_probe() -> None:
    """Draws nothing; its `run_every` is what matters (see rerun_on_reconnect)."""


def rerun_on_reconnect() -> None:
    """Make the tab rerun the app when its websocket reconnects, so it survives a restart.

    Streamlit 1.67's frontend reconnects to a restarted server but then reruns nothing unless a
    run was cut short by the disconnect or the page has a fragment with `run_every`: an idle
    tab stays a dead picture on a server that has forgotten its session. This registers one
    such fragment (it draws nothing, and its own hourly run costs nothing); on reconnect the
    frontend then sends a full rerun with the tab's URL and widget values, and the new server
    draws the same scene. Call it on every run of app.py.
    """
    _reconnect_probe()
