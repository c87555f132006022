"""Sorting a failed ffmpeg run into an error a person can act on, from the lines it logged.

Every run gets `-loglevel level+…`, so each stderr line carries its level (`[error]`, `[warning]`, …); a failure is
reported as ffmpeg's most specific error line, sorted into `CorruptMedia`, `UnsupportedMedia`, `SourceNotFound`,
`TooLarge` (a frame over the pixel limit) or, for a remote file that cannot be read for now, `RetryableError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import CorruptMedia, PermanentError, RetryableError, SourceNotFound, UnsupportedMedia
from shared.media.ffmpeg.inputs import Remote, Source, input_name
from shared.media.ffmpeg.limits import oversized


@dataclass(frozen=True)
class Line:
    """One stderr line of ffmpeg run with `-loglevel level+…`: its level ("" on continuation lines) and text."""

    level: str
    text: str

    _PREFIX = re.compile(r"^(?:\[[^\[\]]*\] )?\[(trace|debug|verbose|info|warning|error|fatal|panic)\] ?(.*)$")

    @classmethod
    def parse(cls, raw: str) -> Line:
        if match := cls._PREFIX.match(raw):
            return cls(level=match.group(1), text=match.group(2))
        return cls(level="", text=raw)

    @property
    def is_error(self) -> bool:
        return self.level in {"error", "fatal", "panic"}


_GENERIC = re.compile(
    r"^(Error opening (input|output) files?\b|Error opening output file|Error binding filtergraph|"
    r"Error parsing options|Conversion failed|At least one output file must be specified|"
    r"Terminating thread|Task finished with error|Nothing was written|Error while filtering|"
    r"Error sending frames to consumers|Error initializing output stream|Failed to set value)",
    re.IGNORECASE,
)
_NO_DECODER = (
    re.compile(r"no decoder found for: (\S+)", re.IGNORECASE),
    re.compile(r"Decoder \(codec (\S+)\) not found", re.IGNORECASE),
    re.compile(r"Unknown decoder '?([^'\s]+)", re.IGNORECASE),
)
_PASSING = re.compile(
    r"\b(403 Forbidden|5\d\d [A-Z]|5XX Server Error|429 Too Many|Connection (refused|reset|timed out)|"
    r"Network is unreachable|No route to host|Host is unreachable|Operation timed out|"
    r"Temporary failure in name resolution|Stream ends prematurely|Broken pipe)",
    re.IGNORECASE,
)
"""What ffmpeg says when reading a remote file fails for now: worth another try later."""
_CODEC_TAG = re.compile(r"\((?:Audio|Video): (\S+) \((?:[^()]*? / )?(0x[0-9a-fA-F]+)\)")


def failure(lines: Sequence[Line], *, path: Source, subject: str) -> PermanentError | RetryableError:
    """One line a person can act on, from the lines an ffmpeg run logged before it failed.

    `subject` names what was being read ("video", "audio", "media").
    """
    text = "\n".join(line.text for line in lines)
    if too_big := oversized(text, path):
        return too_big
    if "No such file or directory" in text or (isinstance(path, Remote) and "404 Not Found" in text):
        return SourceNotFound(f"{path.name}: no such file")
    if isinstance(path, Remote) and _PASSING.search(text):  # an expired URL, a busy store, a dropped connection
        return RetryableError(f"reading {path.name} over HTTP failed for now: {_reason(lines, path)}")
    for pattern in _NO_DECODER:
        if match := pattern.search(text):
            codec = match.group(1).rstrip(".,:")
            if tag := _CODEC_TAG.search(text):
                codec = f"{codec} ({tag.group(2)})" if tag.group(1) == codec else codec
            return UnsupportedMedia(f"unsupported {subject} codec {codec}: this ffmpeg build has no decoder for it")
    if "matches no streams" in text:
        return UnsupportedMedia(f"no {subject} stream" if subject in {"video", "audio"} else "no usable stream")
    if re.search(r"\b(Encoder not found|Unknown encoder)\b", text):
        return UnsupportedMedia(f"this ffmpeg build cannot encode {subject}: {_reason(lines, path)}")
    return CorruptMedia(f"corrupt or truncated {subject}: {_reason(lines, path)}")


def _reason(lines: Sequence[Line], path: Source) -> str:
    """ffmpeg's most specific error line: the first that is not a generic "error opening …" summary."""
    errors = [line.text for line in lines if line.is_error] or [line.text for line in lines if line.level]
    name = input_name(path)
    specific = [
        _tidy(re.sub(r"^Error opening input: ", "", error), name, path) for error in errors if not _GENERIC.match(error)
    ]
    chosen = next((line for line in specific if line), None)
    if chosen is None:
        chosen = _tidy(errors[-1], name, path) if errors else "ffmpeg failed without saying why"
    return chosen[:1].lower() + chosen[1:] if not chosen[:2].isupper() else chosen


def _tidy(line: str, name: str, path: Source) -> str:
    line = line.replace(f"{name}: ", "").replace(name, path.name).replace(str(path), path.name)
    return " ".join(line.split()).rstrip(".")[:300]
