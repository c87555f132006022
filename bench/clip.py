"""The decode benchmark's clip, made in the run by the ffmpeg mmindex uses.

`seconds` long, 1280x720 H.264 at 25 fps (libx264, `-preset veryfast`, a GOP of 250 frames plus x264's own
cuts at scene changes), six kinds of moving and still content that change every 10 s (a third of the clip,
for short ones), and a sound track of the committed spoken sentences (tests/fixtures/speech) looped with
pauses; a sine tone where those recordings are not there.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from shared.media.ffmpeg import ffmpeg_exe
from tests.support.media import SPEECH, ffmpeg

SIZE = (1280, 720)
RATE = 25
GOP = 250
SCENE_S = 10.0
"""Seconds between scene changes (a third of the clip when it is shorter than 30 s)."""
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
SPEECH_LEAD_S = 0.25
SPEECH_GAP_S = 1.5


def scene_seconds(seconds: float) -> float:
    """Seconds between the scene changes of a clip `seconds` long."""
    return min(SCENE_S, seconds / 3)


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
    ffmpeg(*inputs, "-filter_complex", chain, "-map", "[out]", "-ac", "1", str(cycle))
    return cycle, f"{len(sentences)} spoken sentences from tests/fixtures/speech, looped with pauses"


def make_clip(directory: Path, seconds: float) -> tuple[Path, str]:
    """The benchmark's clip (see the module's docstring) and what its sound track holds."""
    width, height = SIZE
    scene_s = scene_seconds(seconds)
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
    ffmpeg(
        *audio,
        *("-filter_complex", graph, "-map", "[video]", "-map", "0:a", "-t", f"{seconds:g}"),
        *("-c:v", "libx264", "-preset", "veryfast", "-g", str(GOP), "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart"),
        str(clip),
    )
    return clip, sound


def loop_clip(clip: Path, times: int, target: Path) -> Path:
    """`clip` played `times` times in a row, copied without re-encoding."""
    ffmpeg("-stream_loop", str(times - 1), "-i", str(clip), "-map", "0", "-c", "copy", str(target))
    return target


def ffmpeg_version() -> str:
    first = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False
    ).stdout.split("\n", 1)[0]
    return first.removeprefix("ffmpeg version ").split(" Copyright", 1)[0]
