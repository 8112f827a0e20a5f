"""A lightweight Streamlit client over the websocket, for the benchmarks that drive a server.

It speaks Streamlit's own protocol (BackMsg / ForwardMsg protobufs on /_stcore/stream), as a
browser tab does, without a browser's CPU or memory: open a page at a query string, find a
slider by its label, move it (the rerun carries the slider's fragment id, as the browser's
does), and wait for the server's `script_finished`. Used by cpu_per_change.py, load.py and
fairshare.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Slider:
    id: str
    label: str
    fragment_id: str
    value: list[float]


@dataclass
class Session:
    """One Streamlit session on a websocket: `open` it, then `move` sliders."""

    url: str  # ws://127.0.0.1:PORT/_stcore/stream
    headers: dict[str, str] = field(default_factory=dict)
    ws: Any = None
    page_hash: str = ""
    page_name: str = ""
    query: str = ""
    sliders: dict[str, Slider] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    cookies: str = ""

    def connect(self, timeout: float = 60) -> None:
        from websockets.sync.client import connect

        self.ws = connect(self.url, subprotocols=["streamlit"], max_size=None,
                          open_timeout=timeout, additional_headers=self.headers or None,
                          compression=None, ping_interval=None)
        self.cookies = self.ws.response.headers.get("Set-Cookie", "")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def _send_rerun(self, *, widgets: list[Any] = (), fragment_id: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_name = self.page_name
        if self.page_hash:
            cs.page_script_hash = self.page_hash
        if fragment_id:
            cs.fragment_id = fragment_id
        for w in widgets:
            cs.widget_states.widgets.append(w)
        self.ws.send(msg.SerializeToString())

    def _wait_finished(self, timeout: float) -> bool:
        """Read messages until the run finishes; True if it finished successfully."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no script_finished within {timeout} s")
            fm = ForwardMsg.FromString(self.ws.recv(timeout=left))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fm.new_session.page_script_hash
            elif kind == "delta":
                self._record(fm)
            elif kind == "script_finished":
                if fm.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                          ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    return True
                if fm.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    return False
                # FINISHED_EARLY_FOR_RERUN: a newer run follows; keep reading.

    def _record(self, fm: Any) -> None:
        d = fm.delta
        if d.WhichOneof("type") != "new_element":
            return
        el = d.new_element
        kind = el.WhichOneof("type")
        if kind == "slider":
            s = el.slider
            self.sliders[s.label] = Slider(s.id, s.label, d.fragment_id, list(s.value))
        elif kind == "markdown":
            self.texts.append(el.markdown.body)
        elif kind == "alert":
            self.texts.append(el.alert.body)
        elif kind == "exception":
            self.texts.append(f"exception: {el.exception.message}")
        elif kind == "html":
            self.texts.append(el.html.body)
        elif kind == "progress":
            self.texts.append(el.progress.text)

    def open(self, page: str, query: str, timeout: float = 600) -> bool:
        """Run `page` (its url_path, "" for home) at `query`; True once it finished cleanly."""
        if self.ws is None:
            self.connect()
        self.page_name, self.query = page, query
        self._send_rerun()
        return self._wait_finished(timeout)

    def slider(self, label_part: str) -> Slider:
        found = [s for label, s in self.sliders.items() if label_part in label]
        if not found:
            raise KeyError(f"no slider labelled like {label_part!r}: {list(self.sliders)}")
        return found[-1]

    def move(self, label_part: str, value: float, timeout: float = 600) -> bool:
        """Move a slider to `value` as the browser does (its fragment only, if it is in one)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        s = self.slider(label_part)
        w = WidgetState(id=s.id)
        w.double_array_value.data.append(float(value))
        self.texts.clear()
        self._send_rerun(widgets=[w], fragment_id=s.fragment_id)
        return self._wait_finished(timeout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its finished children) from /proc/<pid>/stat."""
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime, stime, cutime, cstime are fields 14-17.
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")
