"""`mmindex bench decode`: the decode stage's video path against the plain ffmpeg command a user would run.

One synthetic clip is made in the run: `seconds` long (60 by default), 1280x720 H.264 at 25 fps
(libx264, `-preset veryfast`, a GOP of 250 frames plus x264's own cuts at scene changes), six kinds
of moving and still content that change every 10 s (a third of the clip, for short ones), and a sound
track of the committed spoken sentences (tests/fixtures/speech) looped with pauses; a sine tone where
those recordings are not installed.

- **Frames**, per sampling mode (`fps` at `MMINDEX_VIDEO__FPS`, `keyframes`, `scene`): the pipeline's
  `shared.media.ffmpeg.frames`, every frame consumed and written to a file, against one plain `ffmpeg`
  command line with the same filters writing the same JPEGs with `-f image2`. Each runs twice, in
  alternating order, and the better run of each counts. Seconds, × realtime (clip seconds per wall
  second), frames made by each, and pipeline throughput as a share of plain ffmpeg's.
- **Keyframes against fps**: how much faster the pipeline samples keyframes than one frame a second.
- **Speech to text**: the clip's sound through `ffmpeg.pcm` and the configured Whisper model
  (`MMINDEX_MODELS__ASR`; skipped when it is `none`), after one warm-up call.
- **Peak memory**: a child process does what the decode tasks do with the whole file, window by window
  (fetch, sniff, `decode_video`; speech to text off, so the figure is the video path's), once on the clip
  and once on a ten times longer one (the clip looped, copied without re-encoding). Its peak resident
  memory (VmHWM) and that of the ffmpeg processes it runs (sampled every 50 ms) should not grow with length.
  `ru_maxrss` cannot be used for this: a child started by vfork and exec reports its parent's peak.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from shared.config import Settings, get_settings
from shared.ledger import SourceRecord, State, source_id
from shared.media import ffmpeg

Sampling = Literal["fps", "keyframes", "scene"]
MODES: tuple[Sampling, ...] = ("fps", "keyframes", "scene")

TARGET = 0.9
"""The pipeline should reach this share of plain ffmpeg's throughput in every sampling mode."""
KEYFRAMES_TARGET = 5.0
"""Sampling keyframes should be at least this many times faster than one frame a second."""
MEMORY_TARGET = 1.2
"""A decode worker's peak memory on the long clip should stay within this multiple of the short one's."""
ROUNDS = 2
SIZE = (1280, 720)
RATE = 25
GOP = 250
SCENE_S = 10.0
"""Seconds between scene changes (a third of the clip when it is shorter than 30 s)."""
LONG = 10
"""The memory figure's long clip is this many times the clip."""
SCENES = (
    "testsrc2=size={w}x{h}:rate={r}",
    "mandelbrot=size=320x180:rate={r},scale={w}:{h}",  # drawn small and scaled: a full-size one is slow to make
    "smptehdbars=size={w}x{h}:rate={r}",
    "gradients=size={w}x{h}:rate={r}:speed=0.05:seed=1",
    "life=size=320x180:rate={r}:seed=1:mold=10:ratio=0.5:life_color=#00ff00:death_color=#c83232,"
    "scale={w}:{h}:flags=neighbor",
    "cellauto=size={w}x{h}:rate={r}:rule=110:seed=1",
)
"""The clip's content, in turn: moving test patterns, a zoom, still bars, gradients, cellular automata."""
SPEECH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
"""Spoken sentences committed with the tests; absent from an installed package."""
SPEECH_LEAD_S = 0.25
SPEECH_GAP_S = 1.5
POLL_S = 0.05
MB = 1024 * 1024
CHILD = "import sys; from bench.decode import decode_every_window; decode_every_window(sys.argv[1])"
"""The memory figure's child process: imports what it needs, not the benchmark's other dependencies."""


# ---------------------------------------------------------------- the clip


def run_ffmpeg(*args: str) -> None:
    """Run the ffmpeg mmindex uses, quietly; its last error lines in the exception when it fails."""
    result = subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr[-2000:]}")


def sound_track(directory: Path) -> tuple[Path | None, str]:
    """One cycle of the spoken sentences with pauses, as a WAV to loop; None (and a tone) without them."""
    sentences = sorted(SPEECH.glob("*.ogg"))
    if not sentences:
        return None, "sine tone at 440 Hz (tests/fixtures/speech is not installed): no speech to hear"
    inputs: list[str] = []
    chain = ""
    for number, sentence in enumerate(sentences):
        inputs += ["-i", str(sentence)]
        lead = f"adelay={SPEECH_LEAD_S * 1000:.0f}:all=1," if number == 0 else ""
        chain += f"[{number}:a]aresample=16000,{lead}apad=pad_dur={SPEECH_GAP_S}[s{number}];"
    chain += "".join(f"[s{n}]" for n in range(len(sentences))) + f"concat=n={len(sentences)}:v=0:a=1[out]"
    cycle = directory / "speech.wav"
    run_ffmpeg(*inputs, "-filter_complex", chain, "-map", "[out]", "-ac", "1", str(cycle))
    return cycle, f"{len(sentences)} spoken sentences from tests/fixtures/speech, looped with pauses"


def make_clip(directory: Path, seconds: float) -> tuple[Path, str]:
    """The benchmark's clip (see the module's docstring) and what its sound track holds."""
    width, height = SIZE
    scene_s = min(SCENE_S, seconds / 3)
    count = math.ceil(seconds / scene_s - 1e-9)
    graph = ""
    for number in range(count):
        source = SCENES[number % len(SCENES)].format(w=width, h=height, r=RATE)
        graph += f"{source},trim=duration={scene_s:g},setpts=PTS-STARTPTS,format=yuv420p,setsar=1[v{number}];"
    graph += "".join(f"[v{n}]" for n in range(count)) + f"concat=n={count}:v=1:a=0[video]"
    cycle, sound = sound_track(directory)
    if cycle is None:
        audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    else:
        audio = ["-stream_loop", "-1", "-i", str(cycle)]
    clip = directory / "clip.mp4"
    run_ffmpeg(
        *audio,
        *("-filter_complex", graph, "-map", "[video]", "-map", "0:a", "-t", f"{seconds:g}"),
        *("-c:v", "libx264", "-preset", "veryfast", "-g", str(GOP), "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart"),
        str(clip),
    )
    return clip, sound


def loop_clip(clip: Path, times: int, target: Path) -> Path:
    """`clip` played `times` times in a row, copied without re-encoding."""
    run_ffmpeg("-stream_loop", str(times - 1), "-i", str(clip), "-map", "0", "-c", "copy", str(target))
    return target


def ffmpeg_version() -> str:
    first = subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False
    ).stdout.split("\n", 1)[0]
    return first.removeprefix("ffmpeg version ").split(" Copyright", 1)[0]


# ---------------------------------------------------------------- frames


def plain_command(clip: Path, out: Path, sampling: Sampling, settings: Settings) -> list[str]:
    """The ffmpeg command line a user would write for the same frames: same selection, scaling and quality."""
    fps, px = f"{settings.video.fps:.9g}", settings.image.thumbnail_px
    selection = {
        "fps": f"select='isnan(prev_selected_t)+gt(floor(t*{fps}+1e-6),floor(prev_selected_t*{fps}+1e-6))',",
        "keyframes": "",
        "scene": f"select='eq(n,0)+gt(scene,{settings.video.scene_threshold:.9g})',",
    }[sampling]
    scale = f"scale=w='if(lte(iw,ih),{px},-2)':h='if(lte(iw,ih),-2,{px})':out_range=full"
    skip = ["-skip_frame", "nokey"] if sampling == "keyframes" else []
    return [
        *(ffmpeg.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"),
        *skip,
        *("-i", str(clip), "-map", "0:V:0", "-vf", selection + scale),
        *("-fps_mode", "passthrough", "-q:v", "3", "-f", "image2", str(out / "%06d.jpg")),
    ]


def run_plain(clip: Path, out: Path, sampling: Sampling, settings: Settings) -> tuple[float, int]:
    """Seconds the plain command took, and the frames it wrote."""
    started = time.perf_counter()
    result = subprocess.run(plain_command(clip, out, sampling, settings), capture_output=True, text=True, check=False)
    spent = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"plain ffmpeg ({sampling}) failed: {result.stderr[-2000:]}")
    return spent, sum(1 for _ in out.iterdir())


def run_pipeline(clip: Path, out: Path, sampling: Sampling, settings: Settings) -> tuple[float, int]:
    """Seconds the pipeline's frame sampler took over the whole clip, each JPEG written to a file, and the frames."""
    started = time.perf_counter()
    count = 0
    for count, frame in enumerate(
        ffmpeg.frames(
            clip,
            start_s=0.0,
            end_s=None,
            sampling=sampling,
            fps=settings.video.fps,
            scene_threshold=settings.video.scene_threshold,
            size_px=settings.image.thumbnail_px,
            timeout_s=settings.media.ffmpeg_timeout_s,
        ),
        start=1,
    ):
        (out / f"{count:06d}.jpg").write_bytes(frame.jpeg)
    return time.perf_counter() - started, count


def bench_frames(clip: Path, seconds: float, scratch: Path, settings: Settings, log: Console) -> dict[str, Any]:
    """Per sampling mode: the pipeline and the plain command, alternately, the better of `ROUNDS` runs each."""
    out = scratch / "frames"
    report: dict[str, Any] = {}
    for sampling in MODES:
        # Seconds and frames per round: [plain, pipeline].
        runs: list[list[tuple[float, int]]] = []
        for round_ in range(ROUNDS):
            pair: dict[str, tuple[float, int]] = {}
            for path in ("pipeline", "plain") if round_ % 2 else ("plain", "pipeline"):
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                run = run_pipeline if path == "pipeline" else run_plain
                pair[path] = run(clip, out, sampling, settings)
            runs.append([pair["plain"], pair["pipeline"]])
            (plain_s, plain_n), (pipe_s, pipe_n) = runs[-1]
            log.print(
                f"bench: {sampling} round {round_ + 1}/{ROUNDS}: plain {plain_s:.2f} s ({plain_n} frames), "
                f"pipeline {pipe_s:.2f} s ({pipe_n} frames)",
                highlight=False,
            )
        plain_s, plain_n = min(run[0] for run in runs)
        pipe_s, pipe_n = min(run[1] for run in runs)
        # Figures from the times as reported, so that they agree with each other even for runs of a few ms.
        plain_s, pipe_s = round(plain_s, 4), round(pipe_s, 4)
        ratio = round(plain_s / pipe_s, 3)  # throughput: the same clip in less time
        report[sampling] = {
            "pipeline_s": pipe_s,
            "plain_s": plain_s,
            "pipeline_x_realtime": round(seconds / pipe_s, 1),
            "plain_x_realtime": round(seconds / plain_s, 1),
            "pipeline_frames": pipe_n,
            "plain_frames": plain_n,
            "ratio": ratio,
            "target": TARGET,
            "met": ratio >= TARGET,
        }
    shutil.rmtree(out, ignore_errors=True)
    return report


# ---------------------------------------------------------------- speech to text


def bench_speech(clip: Path, seconds: float, settings: Settings, sound: str, log: Console) -> dict[str, Any]:
    """The clip's sound through `pcm` and the configured speech model: × realtime, and what it heard."""
    from shared.models import go_offline_unless_hub_reachable
    from shared.models.speech import transcriber_for

    name = settings.models.asr
    if name == "none":
        log.print("bench: speech to text is off (MMINDEX_MODELS__ASR=none); not measured", highlight=False)
        return {"model": None, "sound": sound}
    go_offline_unless_hub_reachable()
    transcriber = transcriber_for(settings)  # ModelUnavailable, in one line, when it cannot load
    assert transcriber is not None
    timeout_s = settings.media.ffmpeg_timeout_s
    threads = settings.torch_threads()
    log.print(f"bench: speech to text with {name} ({threads} threads); warming up", highlight=False)
    warm = ffmpeg.pcm(clip, end_s=min(seconds, 5.0), timeout_s=timeout_s)
    transcriber.transcribe(warm)
    started = time.perf_counter()
    samples = ffmpeg.pcm(clip, timeout_s=timeout_s)
    decoded = time.perf_counter()
    segments = transcriber.transcribe(samples)
    done = time.perf_counter()
    text = " ".join(segment.text for segment in segments)
    log.print(f"bench: speech to text: {seconds / (done - started):.1f}× realtime", highlight=False)
    return {
        "model": name,
        "device": getattr(transcriber, "device", None),
        "threads": threads,
        "sound": sound,
        "pcm_s": round(decoded - started, 3),
        "transcribe_s": round(done - decoded, 3),
        "x_realtime": round(seconds / (done - started), 1),
        "segments": len(segments),
        "words": len(text.split()),
        "text": text[:500],
    }


# ---------------------------------------------------------------- peak memory


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
    """Figures of `decode_every_window` on `clip`, in a child process with its own MMINDEX_HOME, speech off."""
    environment = {**(os.environ if env is None else env), "MMINDEX_HOME": str(home), "MMINDEX_MODELS__ASR": "none"}
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
    return figures


def bench_memory(clip: Path, seconds: float, scratch: Path, log: Console) -> dict[str, Any]:
    """A decode worker's peak memory on the clip and on one `LONG` times longer."""
    long_clip = loop_clip(clip, LONG, scratch / "long.mp4")
    report: dict[str, Any] = {}
    for label, path, length in (("short", clip, seconds), ("long", long_clip, seconds * LONG)):
        log.print(f"bench: decoding the {length:g} s clip in a child process (speech off)", highlight=False)
        figures = decode_peak_memory(path, scratch / f"home-{label}")
        worker, ffmpeg_peak = figures["worker_peak_bytes"], figures["ffmpeg_peak_bytes"]
        report[label] = {
            "seconds": length,
            "windows": figures["windows"],
            "frames": figures["frames"],
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
    ratio = None if not short["worker_peak_mb"] else round(long["worker_peak_mb"] / short["worker_peak_mb"], 3)
    ffmpeg_ratio = None if not short["ffmpeg_peak_mb"] else round(long["ffmpeg_peak_mb"] / short["ffmpeg_peak_mb"], 3)
    report.update(
        ratio=ratio,
        ffmpeg_ratio=ffmpeg_ratio,
        target=MEMORY_TARGET,
        met=ratio is not None and ratio <= MEMORY_TARGET and (ffmpeg_ratio or 0) <= MEMORY_TARGET,
    )
    return report


# ---------------------------------------------------------------- the benchmark


def bench_decode(*, seconds: int = 60, log: Console) -> dict[str, Any]:
    """Frame sampling against plain ffmpeg per mode, keyframes against fps, speech to text, and peak memory."""
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="mmindex-bench-") as directory:
        scratch = Path(directory)
        log.print(
            f"bench: making a {seconds} s {SIZE[0]}x{SIZE[1]} H.264 clip at {RATE} fps (GOP {GOP})", highlight=False
        )
        clip, sound = make_clip(scratch, seconds)
        frames = bench_frames(clip, seconds, scratch, settings, log)
        speedup = round(frames["fps"]["pipeline_s"] / frames["keyframes"]["pipeline_s"], 2)
        speech = bench_speech(clip, seconds, settings, sound, log)
        memory = bench_memory(clip, seconds, scratch, log)
        clip_bytes = clip.stat().st_size
    keyframes = {"ratio": speedup, "target": KEYFRAMES_TARGET, "met": speedup >= KEYFRAMES_TARGET}
    return {
        "ffmpeg": ffmpeg_version(),
        "cpus": os.cpu_count(),
        "clip": {
            "seconds": seconds,
            "size": f"{SIZE[0]}x{SIZE[1]}",
            "rate": RATE,
            "codec": "h264 (libx264 veryfast)",
            "gop": GOP,
            "scene_s": round(min(SCENE_S, seconds / 3), 3),
            "bytes": clip_bytes,
            "sound": sound,
        },
        "thumbnail_px": settings.image.thumbnail_px,
        "sampling_fps": settings.video.fps,
        "scene_threshold": settings.video.scene_threshold,
        "rounds": ROUNDS,
        "frames": frames,
        "keyframes_vs_fps": keyframes,
        "speech_to_text": speech,
        "peak_memory": memory,
        "met": all(mode["met"] for mode in frames.values()) and keyframes["met"] and memory["met"],
    }
