"""Dropping Ray's known-spurious log lines from this process's stderr (file descriptor 2, where Ray's C++ core
writes), so that a healthy run prints no errors. Everything else passes through unchanged and at once."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

SPURIOUS = (b"has constructor arguments in the object store and max_restarts > 0", b"KillActor RPC failed")
"""Ray 2.60's core_worker.cc logs the first at ERROR level for every Ray Data actor pool (ray-project/ray#57733):
Ray Data hands its actors an object reference, and actor restarts (which rayedit relies on) are on. The GCS logs
the second (forwarded to the driver) when a failed job's teardown kills an actor whose worker is already gone; it
came after rayedit's own error, as the last line a user saw."""

PREFIX = re.compile(rb"(?:\x1b\[\d+m)?\([^()\n]*\)(?:\x1b\[0m)? ?$")
"""The tag Ray puts before a log line it forwards from another process ("\x1b[36m(pid=gcs_server)\x1b[0m "):
dropped with the line."""


RAY_LINE = re.compile(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
"""How a line of Ray's C++ log starts ("[2026-12-03 13:59:54,645 E ..."); it may start mid-line, after a progress
bar's text."""


class LineFilter:
    """Copies bytes to ``write``, dropping each Ray C++ log line (from its "[date time" to its newline) that contains
    a ``SPURIOUS`` text. Only such a line is held until its end; everything else (a progress bar's carriage returns,
    partial lines) goes out at once."""

    def __init__(self, write, spurious: tuple[bytes, ...] = SPURIOUS):
        self.write, self.spurious, self.held = write, spurious, b""

    def feed(self, chunk: bytes) -> None:
        data, self.held, out = self.held + chunk, b"", []
        while data:
            found = RAY_LINE.search(data)
            if found is None:
                cut = data.rfind(b"[")  # the start of a Ray line split across chunks: wait for the rest
                if cut >= 0 and len(data) - cut < 20 and not re.search(rb"[^\d\-: \[]", data[cut:]):
                    tag = PREFIX.search(data[:cut])  # its process tag waits with it
                    cut = tag.start() if tag else cut
                    out.append(data[:cut])
                    self.held = data[cut:]
                else:
                    out.append(data)
                break
            before, data = data[:found.start()], data[found.start():]
            tag = PREFIX.search(before)
            tag, before = (before[tag.start():], before[:tag.start()]) if tag else (b"", before)
            out.append(before)
            nl = data.find(b"\n")
            if nl < 0:
                self.held = tag + data
                break
            line, data = data[:nl + 1], data[nl + 1:]
            if not any(s in line for s in self.spurious):
                out.append(tag + line)
        if any(out):
            self.write(b"".join(out))

    def close(self) -> None:
        if self.held:
            self.write(self.held)
            self.held = b""


@contextlib.contextmanager
def without_spurious_ray_lines():
    """While active, file descriptor 2 is a pipe read by a thread that forwards all but the ``SPURIOUS`` lines to
    the real stderr; restored (and drained) on exit."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no usable stderr (a daemon): nothing to filter
        yield
        return
    out = LineFilter(lambda b: os.write(saved, b))

    def pump() -> None:
        with contextlib.suppress(OSError):
            for chunk in iter(lambda: os.read(read_end, 65536), b""):
                out.feed(chunk)
            out.close()

    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end in this process closes: the pump reads to the end
        thread.join(timeout=5)  # processes that inherited the pipe (a local Ray's) may hold it open longer
        if not thread.is_alive():
            os.close(read_end)
        os.close(saved)
