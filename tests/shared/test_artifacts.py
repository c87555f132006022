"""shared/artifacts.py: a version never shapes a path; a version's folder is found again to be removed."""

from __future__ import annotations

from pathlib import Path

from shared import artifacts
from shared.config import Settings
from shared.ledger import SourceRecord, State, source_id
from shared.storage.local import LocalStorage


def record(version: str) -> SourceRecord:
    return SourceRecord(
        id=source_id("photos", "a.jpg"),
        root="photos",
        key="a.jpg",
        uri="s3://photos/a.jpg",
        version=version,
        pipeline="1",
        state=State.DECODING,
    )


def test_a_hostile_version_stays_inside_the_artifact_area_and_settle_deletes_only_there(tmp_path: Path) -> None:
    home = tmp_path / "home"
    storage = LocalStorage(Settings(home=home))
    area = (home / "artifacts").resolve()
    outside = tmp_path / "home" / "x" / "0.jpg"  # where "<area>/thumbnails/<id>/../../../x/0.jpg" would land
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"precious")

    hostile = record("../../../x")
    uri = Path(artifacts.thumbnail_uri(storage, hostile, 0))
    assert area in uri.resolve().parents and ".." not in uri.parts
    storage.put(str(uri), b"jpeg", "image/jpeg")
    good = record("5d41402abc4b2a76b9719d911017c592")
    storage.put(artifacts.thumbnail_uri(storage, good, 0), b"jpeg", "image/jpeg")

    assert artifacts.remove(storage, hostile, only_version="../../../x") == 1
    assert outside.read_bytes() == b"precious" and not uri.exists()
    assert artifacts.remove(storage, good, keep_version="5d41402abc4b2a76b9719d911017c592") == 0
    assert Path(artifacts.thumbnail_uri(storage, good, 0)).is_file()
    assert artifacts.remove(storage, good) == 1
    assert outside.read_bytes() == b"precious"


def test_every_version_has_its_own_folder_of_one_shape() -> None:
    folders = {artifacts.version_folder(v) for v in ("a", "b", "../../../x", "5d41402abc4b2a76b9719d911017c592-3")}
    assert len(folders) == 4
    assert all(len(folder) == 32 and folder.isalnum() for folder in folders)
