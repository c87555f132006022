"""shared/media/text_child.py: a document chunked in a child process gives what it gives in this one, and the
child is killed at the deadline, or ends by itself at its CPU limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import psutil
import pytest

from shared.errors import CorruptMedia, TooLarge
from shared.media.text import chunks
from shared.media.text_child import chunks_in_child


def slow_pdf(path: Path, operations: int = 400_000) -> Path:
    """A one-page PDF of a few KB whose page shows text `operations` times: several seconds of extraction."""
    content = b"BT /F1 12 Tf " + b"1 0 0 1 10 10 Tm (slow) Tj " * operations + b"ET"
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def test_a_large_text_file_is_chunked_in_a_child_process_like_in_this_one(tmp_path: Path) -> None:
    text = tmp_path / "big.txt"
    text.write_text("".join(f"Paragraph {n}: café, naïve and ☕ in one line. Then more.\n\n" for n in range(3000)))
    sizes = {"chunk_chars": 300, "overlap_chars": 60}
    assert list(chunks_in_child(text, **sizes, timeout_s=60)) == list(chunks(text, **sizes))

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot a pdf at all")
    with pytest.raises(CorruptMedia, match=r"^corrupt PDF: "):
        list(chunks_in_child(broken, **sizes, timeout_s=60))


def test_a_pdf_too_slow_to_read_is_stopped_at_the_deadline_and_its_child_killed(tmp_path: Path) -> None:
    before = {child.pid for child in psutil.Process().children()}
    found = chunks_in_child(slow_pdf(tmp_path / "slow.pdf"), chunk_chars=1000, overlap_chars=200, timeout_s=1)
    with pytest.raises(TooLarge, match=r"^decoding it took longer than 1 s \(MMINDEX_INGEST__SOURCE_TIMEOUT_S\);"):
        next(found)
    assert {child.pid for child in psutil.Process().children()} <= before


def test_a_child_left_alone_on_a_slow_pdf_ends_by_itself_at_its_cpu_limit(tmp_path: Path) -> None:
    # As when its parent is killed (a hard time limit, an OOM kill) before it can kill the child: nobody reads it,
    # nobody kills it.
    slow = slow_pdf(tmp_path / "slow.pdf")  # seconds of CPU time, far past the 1 s it is given
    child = subprocess.Popen(
        [sys.executable, "-m", "shared.media.text_child", str(slow), "1000", "200", "1", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        code = child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert code == -signal.SIGXCPU
