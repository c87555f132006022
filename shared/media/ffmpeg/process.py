"""Running ffmpeg: which binary, a run to completion in memory (`run`), and a run streaming its output
(`Process`), each killed past its time limit (`TooLarge`).

Which ffmpeg: the one on `PATH` if there is one (a system build, e.g. from the distribution), else the static
build inside the `imageio-ffmpeg` wheel, so a plain `pip install` is enough to index video. An ffmpeg from PATH
must be 5.1 or newer (`-fps_mode`, `-loglevel level+…`). Commands are argument lists (no shell).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import IO

import imageio_ffmpeg

from shared.errors import CorruptMedia
from shared.media.ffmpeg.failures import Line, failure
from shared.media.ffmpeg.inputs import Source
from shared.media.ffmpeg.limits import OVERSIZED, oversized, timed_out

QUIET = ("-hide_banner", "-nostdin", "-nostats")
CHUNK = 1 << 16
"""Bytes read from ffmpeg's stdout at a time: frames are yielded as they complete, so memory stays flat."""
_ERROR_LINES = 32
"""Warning-or-worse stderr lines kept for the error message (the rest of the log is dropped as it is read)."""


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary: `ffmpeg` from PATH, else the one bundled with imageio-ffmpeg."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def run(
    args: Sequence[str], *, path: Source, what: str, timeout_s: float, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg to completion with all its output in memory (for runs whose output is small or wanted whole)."""
    try:
        return subprocess.run(
            args,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise timed_out(path, what, timeout_s) from None


_SHOWINFO = re.compile(r"^\[Parsed_showinfo_\d+ @")
_SHOWINFO_TIMEBASE = re.compile(r"config in time_base: (\d+)/(\d+)")
_SHOWINFO_FRAME = re.compile(r"\bn:\s*\d+\s+pts:\s*(\S+)\s+pts_time:(\S+)")


class Process:
    """ffmpeg streaming to us: stdout read by the caller, stderr parsed by a thread, a watchdog for the deadline.

    Only frame times (one per frame, consumed as frames are yielded) and the last warning-or-worse lines are kept
    from stderr, so a long run does not accumulate its log.
    """

    def __init__(self, args: Sequence[str], *, timeout_s: float, max_pixels: int | None = None) -> None:
        self._timeout_s = timeout_s
        self._max_pixels = max_pixels  # the limit the run was given (`limits.pixels`), for the message
        self._times: queue.Queue[float | None] = queue.Queue()
        self._problems: deque[Line] = deque(maxlen=_ERROR_LINES)
        self._oversized: str | None = None  # ffmpeg's line refusing a frame over -max_pixels: the run is ended
        self._timed_out = threading.Event()
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._process.stdout is not None and self._process.stderr is not None  # both are pipes
        self._stdout: IO[bytes] = self._process.stdout
        self._stderr: IO[bytes] = self._process.stderr
        self._stderr_reader = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._stderr_reader.start()
        self._left_s = timeout_s
        self._watchdog = self._start_watchdog()

    def _start_watchdog(self) -> threading.Timer:
        self._started = time.monotonic()
        watchdog = threading.Timer(max(self._left_s, 0.0), self._expire)
        watchdog.daemon = True
        watchdog.start()
        return watchdog

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The time limit stops counting while the consumer works (ffmpeg waits on the full pipe meanwhile)."""
        self._watchdog.cancel()
        self._left_s -= time.monotonic() - self._started
        try:
            yield
        finally:
            self._watchdog = self._start_watchdog()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_: object) -> None:
        """Kill ffmpeg if it still runs (the consumer stopped early, or an error), then reap it and its pipes."""
        self._watchdog.cancel()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._stderr_reader.join()
        self._stdout.close()

    def read(self, size: int) -> bytes:
        """Up to `size` bytes from stdout as soon as some are there; b"" at the end (or once killed)."""
        return os.read(self._stdout.fileno(), size)

    def next_time(self) -> float:
        """The showinfo time of the next frame, relative to the seek point (ffmpeg logs it before encoding)."""
        remaining = max(self._timeout_s, 1.0)
        try:
            time_s = self._times.get(timeout=remaining)
        except queue.Empty:
            time_s = None
        if time_s is None:
            raise CorruptMedia("ffmpeg wrote a frame without reporting its time (no showinfo line for it)")
        return time_s

    def finish(self, *, path: Source, what: str, subject: str) -> None:
        """Wait for ffmpeg to exit and raise what its exit means."""
        returncode = self._process.wait()
        self._stderr_reader.join()
        if self._oversized is not None and (too_big := oversized(self._oversized, path, self._max_pixels)):
            raise too_big
        if returncode == 0:
            return
        if self._timed_out.is_set():
            raise timed_out(path, what, self._timeout_s)
        raise failure(list(self._problems), path=path, subject=subject)

    def _kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()

    def _expire(self) -> None:
        if self._process.poll() is None:
            self._timed_out.set()
            self._process.kill()

    def _read_stderr(self) -> None:
        timebase: Fraction | None = None
        last = 0.0
        with self._stderr:
            for raw in self._stderr:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if _SHOWINFO.match(text):
                    if match := _SHOWINFO_TIMEBASE.search(text):
                        numerator, denominator = int(match.group(1)), int(match.group(2))
                        timebase = Fraction(numerator, denominator) if denominator else None
                    elif match := _SHOWINFO_FRAME.search(text):
                        last = _frame_time(match.group(1), match.group(2), timebase, last)
                        self._times.put(last)
                    continue
                if self._oversized is None and OVERSIZED.search(text):
                    self._oversized = text
                    self._kill()  # ffmpeg would drop the frame and go on: the video fails here
                line = Line.parse(text)
                if line.level in {"warning", "error", "fatal", "panic"}:
                    self._problems.append(line)
        self._times.put(None)  # no more times: a frame without one is an error, not a hang


def _frame_time(pts: str, pts_time: str, timebase: Fraction | None, previous: float) -> float:
    """Exact pts × time base when both are known; showinfo's rounded pts_time otherwise; the previous time if the
    frame has no timestamp at all."""
    if timebase is not None and re.fullmatch(r"-?\d+", pts):
        return float(int(pts) * timebase)
    try:
        value = float(pts_time)
    except ValueError:
        return previous
    return value if math.isfinite(value) else previous
