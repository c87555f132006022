"""workers/reports.py: what `retry` queues again, on a real embedded index."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.index import embedded_runtime
from workers.intakes.submission import submit
from workers.reports import retry, status_report


def test_retry_leaves_a_link_out_of_its_folder_failed_and_never_reads_its_target(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the vault code is swordfish\n")
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "leak.txt").symlink_to(secret)

    with embedded_runtime(monkeypatch, tmp_path) as runtime:
        submit([str(folder)], runtime)
        (failure,) = status_report(runtime)["failed"]
        assert failure["uri"] == str(folder / "leak.txt") and "outside" in failure["error"]

        again = retry(runtime)  # as `mmindex retry` and the page's "retry failed" do

        assert again.queued == [] and again.unlisted == [{"uri": failure["uri"], "error": failure["error"]}]

        report = status_report(runtime)
        assert report["failed"] == [failure]  # still failed, with its reason
        assert sum(report["counts"].values()) == 1  # the target was never recorded, let alone read
