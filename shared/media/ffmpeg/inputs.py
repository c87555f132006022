"""What ffmpeg may read: a local file, or a `Remote` one over HTTP(S), each through its own protocol only and by
the demuxers of the containers sniffing admits only.

The input is passed as `file:PATH` so that a name with a colon or a leading dash is never read as a protocol or an
option; it may reference other local files only (`-protocol_whitelist file`), so a playlist cannot make a worker
fetch URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from shared.errors import UnsupportedMedia

ONLY_FILES = "file"
"""Input protocols of a local file: a playlist or reference file in the source cannot make ffmpeg fetch a URL."""
URL_PROTOCOLS = {"https": "https,tls,tcp", "http": "http,tcp"}
"""Input protocols of a remote file, by its URL's scheme: that URL's protocol and what it runs on, nothing else."""
DEMUXERS = "mov,matroska,avi,wav,mp3,flac,ogg,aac"
"""Demuxers a file may be read with: the containers whose first bytes `sniff` knows (ISO/QuickTime, Matroska,
AVI, WAV, MP3, FLAC, Ogg, ADTS), none of which names other files to read. Playlists and references (hls, dash,
concat, ...) are refused: content replaced behind a presigned URL cannot make a worker fetch the URLs it names."""


@dataclass(frozen=True)
class Remote:
    """A media file ffmpeg reads over HTTP(S), such as a presigned object URL: it fetches only the byte ranges it
    needs, so one window of a long video does not download the whole file."""

    url: str
    name: str  # what messages call it (the URL holds a signature and never appears in one)
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request, e.g. If-Match: the version planned

    def __str__(self) -> str:
        return self.url


Source = Path | Remote


def input_name(path: Source) -> str:
    return path.url if isinstance(path, Remote) else f"file:{path}"


def input_options(path: Source) -> dict[str, str]:
    """What may be read for `path`, always by a demuxer of the containers sniffing admits, none of which reads
    another file (`DEMUXERS`: no playlist, no concat list): a local file through the file protocol only
    (`ONLY_FILES`); a remote file through its URL's protocol alone (`URL_PROTOCOLS`), sending its headers."""
    if not isinstance(path, Remote):
        return {"protocol_whitelist": ONLY_FILES, "format_whitelist": DEMUXERS}
    scheme = path.url.partition(":")[0].lower()
    if scheme not in URL_PROTOCOLS:
        raise UnsupportedMedia(f"{path.name}: cannot be read over {scheme or 'an unnamed protocol'} (HTTP(S) only)")
    options = {"protocol_whitelist": URL_PROTOCOLS[scheme], "format_whitelist": DEMUXERS}
    if path.headers:
        options["headers"] = "".join(f"{name}: {value}\r\n" for name, value in path.headers)
    return options


def open_input(path: Source, **options: Any) -> Any:
    """An ffmpeg-python input that may read only what `input_options` allows."""
    return ffmpeg.input(input_name(path), **input_options(path), **options)


def window(start_s: float, end_s: float | None) -> dict[str, Any]:
    """The input options that read [start_s, end_s) only (`end_s` None: to the end)."""
    options: dict[str, Any] = {"ss": f"{start_s:.6f}"} if start_s > 0 else {}
    if end_s is not None:
        options["t"] = f"{max(end_s - start_s, 0.0):.6f}"
    return options
