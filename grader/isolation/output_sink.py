"""The worker's printed output: a thread that drains its stdout and stderr, and the markers the
worker program writes there, so that the grader knows when a request's output is complete and
whether the worker program ever started.

Part of the transport (``process``): it keeps bytes and finds markers, and judges nothing (the
note on output it had to cut is ``messages``').
"""
from __future__ import annotations

import re
import threading

from grader.isolation import messages

_SYNC = re.compile(rb"\x1enngrade-sync:[0-9a-f]{32}\x1e")
"""The marker the worker prints after each request, so the output of a call is complete."""

READY = b"\x1enngrade-ready\x1e"
"""What the worker program prints first, before it reads a request: a worker that dies without
it never ran any of the submission (the sandbox or the interpreter failed)."""

_MARKERS = re.compile(rb"\x1enngrade-(?:sync:[0-9a-f]{32}|ready)\x1e")


def sync_marker(request_id: str) -> bytes:
    """The marker the worker prints when it has answered request ``request_id`` (``_SYNC``)."""
    return f"\x1enngrade-sync:{request_id}\x1e".encode()


class _OutputSink(threading.Thread):
    """Drains the worker's stdout/stderr so it can never block, keeping at most ``cap`` bytes."""

    def __init__(self, stream, cap: int):
        super().__init__(daemon=True)
        self.stream, self.cap = stream, cap
        self.kept = bytearray()
        self.total = 0
        self.lock = threading.Condition()
        self._recent = b""          # the last bytes seen, to find a marker split across reads
        self._markers: set[bytes] = set()
        self.closed = False

    def run(self) -> None:
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
            with self.lock:
                if not chunk:
                    self.closed = True
                    self.lock.notify_all()
                    return
                self.total += len(chunk)
                room = self.cap - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
                window = self._recent + chunk
                for found in _MARKERS.findall(window):
                    self._markers.add(found)
                self._recent = window[-64:]
                self.lock.notify_all()

    def wait_for(self, marker: bytes, timeout: float) -> None:
        """Wait until the worker's output up to ``marker`` has been read (or ``timeout``)."""
        with self.lock:
            self.lock.wait_for(lambda: marker in self._markers or self.closed, timeout)
            self._markers.discard(marker)

    def seen(self, marker: bytes) -> bool:
        with self.lock:
            return marker in self._markers

    def mark(self) -> int:
        with self.lock:
            return len(self.kept)

    def since(self, mark: int) -> str:
        with self.lock:
            text = _MARKERS.sub(b"", bytes(self.kept[mark:])).decode("utf-8", "replace")
            if self.total > self.cap and len(self.kept) >= self.cap:
                text += "\n" + messages.output_cut(self.total, self.cap)
            return text
