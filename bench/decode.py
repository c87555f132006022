"""`mmindex bench decode`: the decode stage's video path against the plain ffmpeg command a user would run.

One synthetic clip is made in the run (`bench.clip`): `seconds` long (60 by default), 1280x720 H.264 at
25 fps, a different scene every 10 s, the committed spoken sentences as its sound track.

- **Frames**, per sampling mode (`fps` at `MMINDEX_VIDEO__FPS`, `keyframes`, `scene`): the pipeline's
  `shared.media.ffmpeg.frames`, every frame consumed and written to a file, against one plain `ffmpeg`
  command line with the same filters writing the same JPEGs with `-f image2`. Each runs twice, in
  alternating order, and the better run of each counts. Seconds, × realtime (clip seconds per wall
  second), frames made by each, and pipeline throughput as a share of plain ffmpeg's.
- **Keyframes against fps**: how much faster the pipeline samples keyframes than one frame a second.
- **Speech to text**: the clip's sound through `ffmpeg.pcm` and the configured Whisper model
  (`MMINDEX_MODELS__ASR`; skipped when it is `none`), after one warm-up call.
- **Batched speech to text** (`bench.speech`): a recording ten times as long as the clip (10 minutes by default)
  of sentences spoken by espeak-ng, transcribed by the same model sequentially and through the batched pipeline,
  alternately, the better of two runs each. × realtime of each, their ratio, and the word error rate of the
  batched transcript against the sequential one (and of each against the sentences spoken); `met` when batched
  is `BATCHED_TARGET` times as fast and its words differ by at most `BATCHED_WORD_ERROR`.
- **Peak memory** (`bench.decode_memory`): a child process does what the decode tasks do with the whole file,
  window by window (speech to text off, 10 frames sampled a second), once on the clip and once on a ten times
  longer one. Its peak resident memory (VmHWM) and that of its ffmpeg processes, their ratios, and whether
  they stayed flat (`flat`: long ≤ short × 1.1 + 12 MB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from bench.clip import GOP, RATE, SIZE, ffmpeg_version, make_clip, scene_seconds
from bench.decode_memory import bench_memory
from bench.speech import espeak, spoken_recording, word_error
from shared.config import Settings, get_settings
from shared.media import ffmpeg
from shared.models.speech import BATCH_SIZE, WhisperTranscriber

Sampling = Literal["fps", "keyframes", "scene"]
MODES: tuple[Sampling, ...] = ("fps", "keyframes", "scene")

TARGET = 0.9
"""The pipeline should reach this share of plain ffmpeg's throughput in every sampling mode."""
KEYFRAMES_TARGET = 5.0
"""Sampling keyframes should be at least this many times faster than one frame a second."""
ROUNDS = 2
BATCHED_TARGET = 1.8
"""Batched speech to text should be at least this many times as fast as sequential on the long recording."""
BATCHED_WORD_ERROR = 0.05
"""…and its words should differ from the sequential transcript's by at most this rate."""
LONG_SPEECH = 10
"""The batched comparison's recording is this many times as long as the clip."""


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
    assert isinstance(transcriber, WhisperTranscriber)
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
        "batched": bench_batched(transcriber, seconds * LONG_SPEECH, log),
    }


def bench_batched(
    transcriber: WhisperTranscriber, seconds: float, log: Console, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Sequential against batched speech to text on a spoken recording `seconds` long (see the module's docstring)."""
    if espeak() is None:
        log.print("bench: espeak-ng is not installed; batched speech to text not measured", highlight=False)
        return {"seconds": seconds, "skipped": "espeak-ng is not installed (it speaks the recording)", "met": None}
    samples, said = spoken_recording(seconds)
    log.print(f"bench: batched against sequential speech to text on {seconds:g} s of speech", highlight=False)
    best: dict[bool, tuple[float, str]] = {}  # batched or not: the better run's seconds, and what it heard
    for round_ in range(rounds):
        for batched in (True, False) if round_ % 2 else (False, True):
            started = time.perf_counter()
            segments = transcriber.transcribe(samples, batched=batched)
            spent = time.perf_counter() - started
            if batched not in best or spent < best[batched][0]:
                best[batched] = (spent, " ".join(segment.text for segment in segments))
            log.print(f"bench: {'batched' if batched else 'sequential'}: {spent:.2f} s", highlight=False)
    (sequential_s, sequential), (batched_s, batched_text) = best[False], best[True]
    sequential_s, batched_s = round(sequential_s, 3), round(batched_s, 3)
    ratio = round(sequential_s / batched_s, 2)
    error = round(word_error(sequential, batched_text), 4)
    return {
        "seconds": seconds,
        "batch_size": BATCH_SIZE,
        "sequential_s": sequential_s,
        "batched_s": batched_s,
        "sequential_x_realtime": round(seconds / sequential_s, 1),
        "batched_x_realtime": round(seconds / batched_s, 1),
        "ratio": ratio,
        "target": BATCHED_TARGET,
        "word_error": error,
        "max_word_error": BATCHED_WORD_ERROR,
        "sequential_word_error_spoken": round(word_error(said, sequential), 4),
        "batched_word_error_spoken": round(word_error(said, batched_text), 4),
        "words": len(batched_text.split()),
        "met": ratio >= BATCHED_TARGET and error <= BATCHED_WORD_ERROR,
    }


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
            "scene_s": round(scene_seconds(seconds), 3),
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
        "met": all(mode["met"] for mode in frames.values())
        and keyframes["met"]
        and memory["met"]
        and speech.get("batched", {}).get("met") is not False,  # not measured: without a model or espeak-ng
    }
