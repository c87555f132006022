"""The decode benchmark's peak-memory figure: a decode worker's peak memory should not grow with a video's length.

A child process does what the decode tasks do with one local video, its windows in turn (fetch, sniff,
`decode_video`, thumbnails written to its own MMINDEX_HOME; speech to text off, so the figure is the video
path's), once on the clip and once on a `LONG` times longer one (the clip looped, copied without re-encoding).
Its peak resident memory (VmHWM) and that of the ffmpeg processes it runs (sampled every 50 ms) are compared.
`ru_maxrss` cannot be used for this: a child started by vfork and exec reports its parent's peak.

Frames are sampled `FPS` a second, so that holding a window's frames in memory would show: a 300 s window of
thumbnails at 10 a second is about 40 MB of JPEG. Measured on a 320x240 clip at 10 fps (2 cores, shared): the
worker peaked at 76.2 MB on 1 minute and 78.5 MB on 10 minutes (three runs each, within 0.2 MB), ffmpeg at
41.7 and 42.8 MB; the extra 2.3 MB is the window's item list (3000 items instead of 600). The `flat` bound
(long ≤ short × `GROWTH` + `SLACK_MB`) leaves room for that and for noise, not for a window's frames: with
`frames` made to hold them all, the worker peaked at 84 and 120 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.clip import loop_clip
from shared.config import get_settings
from shared.ledger import SourceRecord, State, source_id

LONG = 10
"""The long clip is this many times the clip."""
FPS = 10.0
"""Frames sampled a second while memory is measured (MMINDEX_VIDEO__FPS in the child)."""
MEMORY_TARGET = 1.2
"""A decode worker's peak memory on the long clip should stay within this multiple of the short one's."""
GROWTH = 1.1
SLACK_MB = 12.0
"""Flat: the long clip's peak ≤ the short one's × GROWTH + SLACK_MB, for the worker and for its ffmpeg."""
POLL_S = 0.05
MB = 1024 * 1024
CHILD = "import sys; from bench.decode_memory import decode_every_window; decode_every_window(sys.argv[1])"
"""The child process: imports what it needs, not the benchmark's other dependencies."""


def peak_rss(pid: int | str = "self") -> int | None:
    """Peak resident memory of a process in bytes (VmHWM), None where /proc does not say (or it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


class ChildPeaks:
    """Samples the peak memory of this process's ffmpeg children every `POLL_S` while they run."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ffmpeg-peaks", daemon=True)

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            for children in Path("/proc/self/task").glob("*/children"):
                try:
                    pids = children.read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    try:  # before exec, a vfork child still shows its parent's memory: ffmpeg's only
                        is_ffmpeg = "ffmpeg" in Path(f"/proc/{pid}/comm").read_text()
                    except OSError:
                        continue
                    if is_ffmpeg:
                        self.peak = max(self.peak, peak_rss(pid) or 0)


def decode_every_window(path: str) -> None:
    """What the decode tasks do with one local video, its windows in turn; prints one JSON line of figures.

    Runs in a child process of its own (see `CHILD`), with the settings of its environment.
    """
    from shared.runtime import Runtime
    from workers.decode import decode_source

    settings = get_settings()
    clip = Path(path).resolve()
    key = str(clip)
    record = SourceRecord(
        id=source_id("local", key),
        root="local",
        key=key,
        uri=key,
        version="bench",
        pipeline=settings.pipeline_version,
        state=State.DECODING,
    )
    runtime = Runtime(settings)
    started = time.perf_counter()
    with ChildPeaks() as ffmpeg_peaks:
        planned = decode_source(record, runtime)
        frames = len(planned.items)
        for window in planned.windows:
            frames += len(decode_source(record, runtime, window).items)
    figures = {
        "windows": max(len(planned.windows), 1),
        "frames": frames,
        "seconds": round(time.perf_counter() - started, 3),
        "worker_peak_bytes": peak_rss(),
        "ffmpeg_peak_bytes": ffmpeg_peaks.peak or None,
    }
    print(json.dumps(figures))


def decode_peak_memory(clip: Path, home: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Figures of `decode_every_window` on `clip`, in a child process with its own MMINDEX_HOME, speech off,
    `FPS` frames a second; with the thumbnails it wrote there."""
    environment = {
        **(os.environ if env is None else env),
        "MMINDEX_HOME": str(home),
        "MMINDEX_MODELS__ASR": "none",
        "MMINDEX_VIDEO__FPS": f"{FPS:g}",
    }
    checkout = str(Path(__file__).resolve().parents[1])  # where `bench` is importable from
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(clip)],
        env=environment,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"decoding {clip.name} in a child process failed: {result.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    figures["thumbnails"] = sum(1 for _ in (home / "artifacts").rglob("*.jpg"))
    return figures


def within(long_mb: float | None, short_mb: float | None) -> bool:
    """Whether the long clip's peak stays within the flat bound of the short one's (False where one is unknown)."""
    return long_mb is not None and short_mb is not None and long_mb <= short_mb * GROWTH + SLACK_MB


def ratio_of(long_mb: float | None, short_mb: float | None) -> float | None:
    return None if not short_mb or long_mb is None else round(long_mb / short_mb, 3)


def bench_memory(clip: Path, seconds: float, scratch: Path, log: Console) -> dict[str, Any]:
    """A decode worker's peak memory on the clip and on one `LONG` times longer, and whether it stayed flat."""
    long_clip = loop_clip(clip, LONG, scratch / "long.mp4")
    report: dict[str, Any] = {"sampling_fps": FPS}
    for label, path, length in (("short", clip, seconds), ("long", long_clip, seconds * LONG)):
        log.print(f"bench: decoding the {length:g} s clip in a child process (speech off)", highlight=False)
        figures = decode_peak_memory(path, scratch / f"home-{label}")
        worker, ffmpeg_peak = figures["worker_peak_bytes"], figures["ffmpeg_peak_bytes"]
        report[label] = {
            "seconds": length,
            "windows": figures["windows"],
            "frames": figures["frames"],
            "thumbnails": figures["thumbnails"],
            "decode_s": figures["seconds"],
            "worker_peak_mb": None if worker is None else round(worker / MB, 1),
            "ffmpeg_peak_mb": None if ffmpeg_peak is None else round(ffmpeg_peak / MB, 1),
        }
        log.print(
            f"bench: {length:g} s: {figures['frames']} frames in {figures['windows']} window(s), worker peak "
            f"{report[label]['worker_peak_mb']} MB, ffmpeg peak {report[label]['ffmpeg_peak_mb']} MB",
            highlight=False,
        )
    short, long = report["short"], report["long"]
    ratio = ratio_of(long["worker_peak_mb"], short["worker_peak_mb"])
    ffmpeg_ratio = ratio_of(long["ffmpeg_peak_mb"], short["ffmpeg_peak_mb"])
    flat = all(within(long[what], short[what]) for what in ("worker_peak_mb", "ffmpeg_peak_mb"))
    report.update(
        ratio=ratio,
        ffmpeg_ratio=ffmpeg_ratio,
        target=MEMORY_TARGET,
        met=ratio is not None and ratio <= MEMORY_TARGET and (ffmpeg_ratio or 0) <= MEMORY_TARGET,
        flat=flat,
        flat_bound=f"long ≤ short × {GROWTH:g} + {SLACK_MB:g} MB, worker and ffmpeg",
    )
    return report
