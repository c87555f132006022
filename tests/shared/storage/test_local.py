"""shared/storage/local.py: local paths as sources, artifacts under MMINDEX_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import SourceNotFound, TooLarge
from shared.storage import ObjectInfo
from shared.storage.local import LocalStorage


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def storage(home: Path) -> LocalStorage:
    return LocalStorage(Settings(home=home))


def write(path: Path, data: bytes = b"content") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def listed(storage: LocalStorage, uri: Path | str) -> list[str]:
    return [info.key for info in storage.list(str(uri))]


def test_a_directory_is_listed_recursively_in_order(storage: LocalStorage, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    b = write(root / "b.jpg")
    a = write(root / "a.jpg")
    deep = write(root / "2024" / "june" / "c.png")
    assert listed(storage, root) == [str(a), str(b), str(deep)]


def test_listing_skips_hidden_files_and_hidden_directories(storage: LocalStorage, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    kept = write(root / "kept.jpg")
    write(root / ".DS_Store")
    write(root / ".git" / "objects" / "pack")
    write(root / "album" / ".thumbs" / "x.jpg")
    assert listed(storage, root) == [str(kept)]


def test_listing_skips_the_artifacts_directory(storage: LocalStorage, home: Path, tmp_path: Path) -> None:
    # The home lives inside the folder being ingested: its thumbnails must not be ingested back.
    source = write(home.parent / "source.jpg")
    write(home / "artifacts" / "thumb-1.jpg")
    write(home / "artifacts" / "frames" / "f-1.jpg")
    assert listed(storage, tmp_path) == [str(source)]


def test_a_single_file_is_listed_with_its_size_and_version(storage: LocalStorage, tmp_path: Path) -> None:
    path = write(tmp_path / "one.txt", b"hello")
    (info,) = storage.list(str(path))
    assert info == ObjectInfo(uri=str(path), root="local", key=str(path), size=5, version=info.version)
    assert info.version


def test_relative_paths_are_listed_as_absolute(
    storage: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "docs" / "note.txt")
    monkeypatch.chdir(tmp_path)
    assert listed(storage, "docs") == [str(path.resolve())]


def test_a_missing_path_is_source_not_found(storage: LocalStorage, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SourceNotFound, match="nope"):
        list(storage.list(str(missing)))
    with pytest.raises(SourceNotFound):
        storage.stat(str(missing))
    with pytest.raises(SourceNotFound), storage.fetch(str(missing)):
        pass


def test_an_empty_directory_lists_nothing(storage: LocalStorage, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert listed(storage, tmp_path / "empty") == []


def test_the_version_changes_when_the_content_changes(storage: LocalStorage, tmp_path: Path) -> None:
    path = write(tmp_path / "doc.txt", b"first")
    first = storage.stat(str(path)).version
    assert storage.stat(str(path)).version == first
    path.write_bytes(b"second")
    assert storage.stat(str(path)).version != first
    path.write_bytes(b"first")
    assert storage.stat(str(path)).version == first


def test_the_version_does_not_depend_on_the_name(storage: LocalStorage, tmp_path: Path) -> None:
    one = write(tmp_path / "one.bin", b"same bytes")
    two = write(tmp_path / "two.bin", b"same bytes")
    assert storage.stat(str(one)).version == storage.stat(str(two)).version


def test_fetch_gives_the_file_itself(storage: LocalStorage, tmp_path: Path) -> None:
    path = write(tmp_path / "doc.txt", b"the words")
    with storage.fetch(str(path)) as local:
        assert local.read_bytes() == b"the words"
    assert path.exists()


def test_fetch_over_the_size_cap_is_too_large(home: Path, tmp_path: Path) -> None:
    storage = LocalStorage(Settings(home=home, s3={"max_object_bytes": 10}))
    small = write(tmp_path / "small.bin", b"x" * 10)
    big = write(tmp_path / "big.bin", b"x" * 11)
    with storage.fetch(str(small)) as local:
        assert local.stat().st_size == 10
    with pytest.raises(TooLarge, match="MMINDEX_S3__MAX_OBJECT_BYTES"), storage.fetch(str(big)):
        pass


def test_put_writes_an_artifact_under_home(storage: LocalStorage, home: Path, tmp_path: Path) -> None:
    source = storage.stat(str(write(tmp_path / "a.jpg")))
    uri = storage.artifact_uri(source, "thumbs/a.jpg")
    assert Path(uri) == (home / "artifacts" / "thumbs" / "a.jpg").resolve()
    storage.put(uri, b"jpeg bytes", "image/jpeg")
    storage.put(uri, b"new jpeg bytes", "image/jpeg")
    assert Path(uri).read_bytes() == b"new jpeg bytes"
    assert [p.name for p in Path(uri).parent.iterdir()] == ["a.jpg"]


def test_delete_tree_removes_a_folder_but_the_versions_kept(storage: LocalStorage, home: Path) -> None:
    folder = home / "artifacts" / "thumbnails" / "s1"
    for name in ("v1/0.jpg", "v2/0.jpg", "v2/1.jpg"):
        write(folder / name)
    neighbour = write(home / "artifacts" / "thumbnails" / "s10" / "v1" / "0.jpg")

    assert storage.delete_tree(str(folder), keep=("v2",)) == 1
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jpg")) == ["v2/0.jpg", "v2/1.jpg"]

    assert storage.delete_tree(str(folder)) == 2
    assert not folder.exists() and neighbour.is_file()
    assert storage.delete_tree(str(folder)) == 0
