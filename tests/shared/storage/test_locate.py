"""shared/storage/__init__.py: where a URI points, for a source recorded without being read."""

from __future__ import annotations

from pathlib import Path

from shared.storage import SentinelVersion, locate


def test_a_missing_source_is_recorded_with_the_missing_version(tmp_path: Path) -> None:
    s3 = locate("s3://photos/trip/a.jpg")
    assert (s3.root, s3.key, s3.version) == ("photos", "trip/a.jpg", SentinelVersion.MISSING)
    local = locate(str(tmp_path / "gone.jpg"))
    assert (local.root, local.key, local.version) == ("local", str(tmp_path / "gone.jpg"), "missing")


def test_the_sentinel_versions_are_the_words_ledgers_already_hold() -> None:
    # Recorded versions outlive a release: the words must stay what earlier releases wrote.
    assert {str(version) for version in SentinelVersion} == {"missing", "deleted", "hidden", "refused"}
