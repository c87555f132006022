"""Chunking a document in a child process, so that a deadline can stop it.

PDF text extraction and chunking are pure Python: in a decode task they run in a thread, which nothing can
interrupt (Celery's soft time limit cannot reach threads), so one PDF needing 30 s a page would hold up its whole
group. Here the work runs in `python -m shared.media.text_child`, a plain subprocess (a Celery prefork child is
daemonic and may not start a `multiprocessing` child), which writes one JSON line per chunk; the parent reads them as
they come and kills the child when the source's time is up (`TooLarge` naming MMINDEX_INGEST__SOURCE_TIMEOUT_S).

Time counts while the parent waits for the next chunk, not while it is away handing chunks on (in-process, the
embed stage runs inside that handing on); the child, meanwhile, can run ahead by no more than a pipe's buffer.
Within `read_by(deadline)` the waiting also ends at the deadline of the task reading (`OutOfTime`, not a failure of
the source). The child bounds itself too, for when its parent cannot kill it (a hard time limit or an OOM kill of the
worker): its CPU time is limited to the source's time limit, and on Linux it dies with its parent.
Errors the child meets (`CorruptMedia`, `UnsupportedMedia`, ...) come back as the same classes with their messages,
and its warnings (a scanned page OCR could not read) are logged by the parent.

With OCR on, the child loads the OCR reader itself, once, and reads scanned pages within the same time limit; its
CPU time limit is the source's time limit times the threads OCR runs on.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

from shared import errors
from shared.errors import PermanentError, TooLarge
from shared.media.scanned import OcrOptions
from shared.media.text import Chunk, chunks

log = logging.getLogger(__name__)

_READ = 1 << 16
_NO_OCR = "none"
_ERRORS: dict[str, type[Exception]] = {
    name: cls
    for name in ("PermanentError", "TooLarge", "UnsupportedMedia", "CorruptMedia", "SourceNotFound", "ModelUnavailable")
    if isinstance(cls := getattr(errors, name), type)
}


class OutOfTime(Exception):
    """The task reading a document reached its own deadline (`read_by`) before the document's time was up: the
    source is not at fault, and a task with time to spare should read it again."""


_SIGXCPU: int | None = getattr(signal, "SIGXCPU", None)

_task_deadline: ContextVar[float | None] = ContextVar("task_deadline", default=None)


@contextmanager
def read_by(deadline: float | None) -> Iterator[None]:
    """Chunks read in this block are waited for until `deadline` (time.monotonic()) at most, then `OutOfTime`;
    None: only the source's own time limit applies."""
    token = _task_deadline.set(deadline)
    try:
        yield
    finally:
        _task_deadline.reset(token)


def timeout_reason(timeout_s: float) -> str:
    return (
        f"decoding it took longer than {timeout_s:g} s (MMINDEX_INGEST__SOURCE_TIMEOUT_S);"
        " raise the limit to index a document this slow to read"
    )


def chunks_in_child(
    path: Path, *, chunk_chars: int, overlap_chars: int, timeout_s: float, ocr: OcrOptions | None = None
) -> Iterator[Chunk]:
    """The chunks of the document at `path` (see `shared.media.text.chunks`, `ocr` included), made by a child process
    that is killed once this source has been waited on for `timeout_s` (or has used that much CPU time, per thread
    OCR runs on): then `TooLarge`. Killed too, with `OutOfTime`, at the deadline of an enclosing `read_by`."""
    threads = 1 if ocr is None else ocr.threads()
    cpu_s = math.ceil(timeout_s * threads) + 1  # the parent's wait ends first, unless the parent is gone
    args = [
        sys.executable,
        "-m",
        __name__,
        str(path),
        str(chunk_chars),
        str(overlap_chars),
        str(cpu_s),
        str(os.getpid()),
        _NO_OCR if ocr is None else ocr.to_json(),
    ]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        assert process.stdout is not None
        try:
            yield from _read(process, process.stdout.fileno(), timeout_s)
            code = process.wait()
            if _SIGXCPU is not None and code == -_SIGXCPU:  # it used its CPU time (see bound_self)
                raise TooLarge(timeout_reason(timeout_s))
            if code != 0:
                stderr.seek(0)
                last = (stderr.read().decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
                raise PermanentError(f"the text extractor exited with code {code}: {last[:200]}")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


def _read(process: subprocess.Popen[bytes], fd: int, timeout_s: float) -> Iterator[Chunk]:
    waited = 0.0
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            newline = buffer.find(b"\n")
            if newline >= 0:
                line, buffer = buffer[:newline], buffer[newline + 1 :]
                message = json.loads(line)
                if "warning" in message:
                    log.warning("%s", message["warning"])
                else:
                    yield _chunk(message)
                continue
            remaining = timeout_s - waited
            if remaining <= 0:
                process.kill()
                raise TooLarge(timeout_reason(timeout_s))
            deadline = _task_deadline.get()
            if deadline is not None and deadline - time.monotonic() < remaining:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    process.kill()
                    raise OutOfTime("the task reading it ran out of time; it is read again by another task")
            started = time.monotonic()
            ready = selector.select(remaining)
            waited += time.monotonic() - started
            if not ready:
                continue
            data = os.read(fd, _READ)
            if not data:
                if buffer.strip():
                    raise PermanentError("the text extractor stopped in the middle of a chunk")
                return
            buffer += data


def _chunk(message: dict[str, object]) -> Chunk:
    if "error" in message:
        cls = _ERRORS.get(str(message["error"]), PermanentError)
        raise cls(str(message["message"]))
    page = message.get("page")
    return Chunk(int(str(message["index"])), str(message["text"]), None if page is None else int(str(page)))


PR_SET_PDEATHSIG = 1
"""prctl(2): the signal this process gets when the thread that started it ends."""


def bound_self(cpu_s: int, parent: int) -> None:
    """Limit this process by itself, for when its parent cannot (killed by a hard time limit or for memory): past
    `cpu_s` of CPU time it gets SIGXCPU (and SIGKILL a second later), and on Linux SIGKILL when `parent` dies."""
    try:
        import resource
    except ImportError:  # not POSIX: the parent's kill is all there is
        return
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    ceiling = cpu_s + 1 if hard == resource.RLIM_INFINITY else min(cpu_s + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(cpu_s, ceiling), ceiling))
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl to call: the CPU limit still ends it
            return
        if os.getppid() != parent:  # the parent died before the signal was asked for
            os._exit(1)


def main(argv: list[str]) -> int:
    """Write the chunks of argv's document to stdout, one JSON object a line; an error as the last line.

    argv: the document, chunk and overlap sizes, and optionally the CPU seconds it may use, its parent's pid and the
    OCR options as JSON (or `none`). Warnings logged while reading are written as `{"warning": ...}` lines.
    """
    path, chunk_chars, overlap_chars = Path(argv[0]), int(argv[1]), int(argv[2])
    if len(argv) > 3:
        bound_self(int(argv[3]), int(argv[4]) if len(argv) > 4 else os.getppid())
    ocr = OcrOptions.from_json(argv[5]) if len(argv) > 5 and argv[5] != _NO_OCR else None
    out = sys.stdout
    logging.getLogger("shared").addHandler(_Forward(out))
    try:
        for chunk in chunks(path, chunk_chars=chunk_chars, overlap_chars=overlap_chars, ocr=ocr):
            out.write(json.dumps({"index": chunk.index, "text": chunk.text, "page": chunk.page}) + "\n")
    except errors.MmindexError as error:
        name = type(error).__name__ if type(error).__name__ in _ERRORS else "PermanentError"
        out.write(json.dumps({"error": name, "message": errors.one_line(error)}) + "\n")
    except Exception as error:  # reported as the source's reason, not as a crash of the worker
        out.write(json.dumps({"error": "PermanentError", "message": f"cannot read the text: {errors.one_line(error)}"}))
        out.write("\n")
    out.flush()
    return 0


class _Forward(logging.Handler):
    """Warnings and errors of the project's modules, as lines for the parent to log."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.write(json.dumps({"warning": self.format(record)}) + "\n")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
