"""Warm the engine in the background once the home page is drawn.

The home page draws from advcore.playground.hero's cache without torch; the next page a speaker opens
needs torch, the engine (pages.ui) and the shipped models. One daemon thread per process imports
them and loads the models while the speaker reads the home page, so that page does not pay for
them. Safe when several sessions call start() at once (the first one starts the thread), and
harmless anywhere else: imports are shared per process, and models.pretrained is cached and
thread-safe to call (the page's own call finds the model loaded, or waits on the import lock).
"""

from __future__ import annotations

import contextlib
import logging
import threading

_LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
_thread: threading.Thread | None = None


def _warm(after: threading.Thread | None) -> None:
    # The script run that started us finishes first: its page goes out to the browser before this
    # thread competes for the interpreter with torch's import (~2 s of mostly Python).
    if after is not None:
        after.join()
    try:
        import pages.ui  # noqa: F401  torch, the engine and its pages' helpers
        from advcore import data, models

        data.mnist("test")
        for name in models.PRETRAINED:
            # A missing model is for the page that needs it to explain; nothing to warm here.
            with contextlib.suppress(models.AssetError):
                models.pretrained(name)
    except Exception:  # a warm-up is an optimisation: a failure shows up where the page loads
        _LOG.exception("warming the engine in the background failed")


def start() -> threading.Thread:
    """Start the warm-up thread unless this process already has one; returns it. It begins once
    the calling thread (a session's script run) has ended."""
    global _thread
    with _LOCK:
        if _thread is None:
            caller = threading.current_thread()
            after = None if caller is threading.main_thread() else caller
            _thread = threading.Thread(target=_warm, args=(after,), name="advplay-warm",
                                       daemon=True)
            _thread.start()
        return _thread
