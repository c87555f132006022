"""workers/intakes/watch.py end to end, in embedded mode: `mmindex events watch` indexes the files that arrive in
a watched folder (sub-folders included) and takes out the ones that leave it; a link out of the folder is reported
as a failure naming the setting that allows it, and what it points to is never read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import BIN, stop
from tests.workers.intakes.events import status, until


def counts(cli: Cli) -> dict[str, int]:
    """Sources per state; none while `status` refuses because no index exists yet (a watch makes it as it starts)."""
    result = cli("status", "--json")
    return dict(json.loads(result.stdout)["counts"]) if result.returncode == 0 else {}


def test_a_watched_folder_is_indexed_as_files_arrive_and_leave(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    env = {**cli.env, "MMINDEX_EVENTS__WATCH_INTERVAL_S": "0.2", "MMINDEX_EVENTS__SETTLE_S": "0.5"}
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "watch", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = photo(folder / "first.jpg", seed=1)
        until(lambda: counts(cli).get("done") == 1, "first.jpg indexed")
        second = photo(folder / "sub" / "second.jpg", seed=2)
        until(lambda: status(cli)["counts"]["done"] == 2, "sub/second.jpg indexed")

        first.unlink()
        until(lambda: status(cli)["counts"]["deleted"] == 1, "first.jpg taken out")
        # One search shows both: the file that arrived in a sub-folder is found, and the one that left is not.
        hits = cli.json("search", "--image", str(near_copy(second, tmp_path / "q.jpg")), "--k", "5")
        assert [hit["uri"] for hit in hits] == [str(second.resolve())]
        assert process.poll() is None
    finally:
        stop(process)


def test_a_link_out_of_a_watched_folder_is_not_indexed(cli: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the vault code is swordfish, kept by the quartermaster\n")
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "leak.txt").symlink_to(secret)
    env = {**cli.env, "MMINDEX_EVENTS__WATCH_INTERVAL_S": "0.2", "MMINDEX_EVENTS__SETTLE_S": "0.5"}
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "watch", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        good = photo(folder / "good.jpg", seed=1)

        def settled() -> bool:
            now = counts(cli)
            return now.get("done", 0) + now.get("failed", 0) >= 2

        until(settled, "both files settled")
        report = status(cli)
        assert report["counts"]["done"] == 1
        (failure,) = report["failed"]
        assert failure["uri"] == str(folder / "leak.txt")
        assert "outside" in failure["error"] and "MMINDEX_INGEST__LINKS" in failure["error"]
        hits = cli.json("search", "swordfish vault code quartermaster", "--k", "10", "--min-relevance", "0")
        assert [hit["uri"] for hit in hits] == [str(good)]
        assert process.poll() is None
    finally:
        stop(process)
