"""Video and audio through the ffmpeg command line: probing, frame sampling, PCM, and encoding a recording.

One concept per module; the names the rest of the code uses are re-exported here (`ffmpeg.probe(...)`):

- `inputs`: what ffmpeg may read: a local `Path` or a `Remote` file over HTTP(S) (`Source`), by its own protocol
  and the demuxers of the containers sniffing admits only, so a playlist cannot make a worker fetch URLs;
- `process`: which ffmpeg runs (`ffmpeg_exe`), a run in memory and a streaming run, each with its time limit;
- `limits`: the time, length and frame-pixel limits a run is held to, and the `TooLarge` naming each setting;
- `failures`: a failed run's log sorted into `CorruptMedia`, `UnsupportedMedia`, `SourceNotFound` or, for a remote
  file that cannot be read for now, `RetryableError`;
- `probing`: the container's summary (`probe`, `Probe`) and whether a stream goes on to a time (`reaches`);
- `video`: frame sampling (`frames`, `Frame`), through `jpeg_stream`, which cuts ffmpeg's JPEG stream into images;
- `still`: one frame again, near full size (`still`), to read the words in it;
- `audio`: float mono samples, whole (`pcm`) or a chunk at a time (`pcm_chunks`), and a recording (`write_audio`).
"""

from __future__ import annotations

from shared.media.ffmpeg.audio import pcm, pcm_chunks, write_audio
from shared.media.ffmpeg.inputs import Remote, Source
from shared.media.ffmpeg.probing import Probe, probe, reaches
from shared.media.ffmpeg.process import ffmpeg_exe
from shared.media.ffmpeg.still import still
from shared.media.ffmpeg.video import Frame, frames

__all__ = [
    "Frame",
    "Probe",
    "Remote",
    "Source",
    "ffmpeg_exe",
    "frames",
    "pcm",
    "pcm_chunks",
    "probe",
    "reaches",
    "still",
    "write_audio",
]
