"""shared/storage/local.py: local paths as sources, artifacts under MMINDEX_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import PermanentError, SourceNotFound, TooLarge
from shared.storage import ObjectInfo, local
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


def test_hidden_files_and_folders_are_listed_as_hidden_and_never_read(storage: LocalStorage, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    kept = write(root / "kept.jpg")
    store = write(root / ".DS_Store")
    write(root / ".git" / "objects" / "pack")
    write(root / "album" / ".thumbs" / "x.jpg")
    infos = list(storage.list(str(root)))
    assert [info.key for info in infos if not info.hidden] == [str(kept)]
    assert sorted(info.key for info in infos if info.hidden) == sorted(
        [str(store), str(root / ".git"), str(root / "album" / ".thumbs")]
    )


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


def test_a_link_out_of_the_folder_is_refused_unread_and_a_link_inside_is_followed(
    storage: LocalStorage, tmp_path: Path
) -> None:
    secret = write(tmp_path / "secret.txt", b"the password is swordfish")
    root = tmp_path / "docs"
    real = write(root / "real.txt", b"shared words")
    (root / "leak.txt").symlink_to(secret)
    (root / "sub").mkdir()
    (root / "sub" / "alias.txt").symlink_to(real)
    (root / "dangling.txt").symlink_to(root / "nowhere.txt")

    infos = {Path(info.key).name: info for info in storage.list(str(root))}

    # The inside link leads to the file it names, listed once under its real path.
    assert infos["real.txt"].key == str(real) and infos["real.txt"].refused is None
    assert "alias.txt" not in infos
    leak = infos["leak.txt"]
    assert leak.refused is not None and "\n" not in leak.refused
    assert "outside" in leak.refused and "MMINDEX_INGEST__LINKS" in leak.refused
    assert leak.version == "refused"  # not a hash of the secret: it was never opened
    assert "no such file" in (infos["dangling.txt"].refused or "")


def test_a_link_out_of_the_folder_is_refused_without_telling_where_it_leads_or_whether_that_exists(
    storage: LocalStorage, tmp_path: Path
) -> None:
    write(tmp_path / "secret.txt", b"the password is swordfish")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "to-a-file.txt").symlink_to(tmp_path / "secret.txt")
    (root / "to-nothing.txt").symlink_to(tmp_path / "nothing.txt")

    reasons = {Path(info.key).name: info.refused or "" for info in storage.list(str(root))}

    assert set(reasons) == {"to-a-file.txt", "to-nothing.txt"}
    for name, reason in reasons.items():
        assert reason.startswith(f"{root / name}: ") and f"outside {root}; not followed" in reason
        assert "secret" not in reason and "nothing.txt" not in reason.replace(name, "")
    # The same words whatever the target is: nothing about it can be learnt from them.
    assert len({reason.split(": ", 1)[1] for reason in reasons.values()}) == 1


def test_a_link_to_a_folder_is_refused_with_its_reason_never_silently_left_out(
    storage: LocalStorage, home: Path, tmp_path: Path
) -> None:
    write(tmp_path / "elsewhere" / "notes.txt")
    root = tmp_path / "docs"
    inner = write(root / "album" / "a.jpg")
    (root / "album-again").symlink_to(root / "album")
    (root / "far").symlink_to(tmp_path / "elsewhere")

    infos = {Path(info.key).name: info for info in storage.list(str(root))}

    assert infos["a.jpg"].key == str(inner) and infos["a.jpg"].refused is None
    assert infos["album-again"].refused == f"{root / 'album-again'}: a symbolic link to a folder; not followed"
    assert "outside" in (infos["far"].refused or "")
    assert "notes.txt" not in infos
    anywhere = LocalStorage(Settings(home=home, ingest={"links": "anywhere"}))
    far = {Path(info.key).name: info for info in anywhere.list(str(root))}["far"]
    assert far.refused == f"{root / 'far'}: a symbolic link to a folder; not followed"


def test_links_anywhere_follows_a_link_out_of_the_folder(home: Path, tmp_path: Path) -> None:
    storage = LocalStorage(Settings(home=home, ingest={"links": "anywhere"}))
    elsewhere = write(tmp_path / "elsewhere" / "notes.txt", b"notes")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").symlink_to(elsewhere)

    (info,) = storage.list(str(tmp_path / "docs"))

    assert (info.key, info.refused) == (str(elsewhere), None)


@pytest.mark.timeout(60)
def test_a_fifo_and_a_link_to_a_device_are_refused_without_being_opened(storage: LocalStorage, tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    write(root / "good.txt")
    os.mkfifo(root / "x.jpg")  # opening it to read would wait for a writer for ever
    (root / "zero.jpg").symlink_to("/dev/zero")  # reading it would never end

    infos = {Path(info.key).name: info for info in storage.list(str(root))}

    assert infos["good.txt"].refused is None
    assert "a FIFO" in (infos["x.jpg"].refused or "")
    # /dev/zero is outside the folder; followed anywhere, it is still a device and refused.
    assert "outside" in (infos["zero.jpg"].refused or "")
    anywhere = LocalStorage(Settings(home=tmp_path / "home", ingest={"links": "anywhere"}))
    (device,) = [info for info in anywhere.list(str(root)) if info.key == "/dev/zero"]
    assert device.refused is not None and "a device, not a regular file" in device.refused
    for uri in (root / "x.jpg", Path("/dev/zero")):
        with pytest.raises(PermanentError, match="not a regular file"), anywhere.fetch(str(uri)):
            pass
        with pytest.raises(PermanentError, match="not a regular file"):
            anywhere.head(str(uri), 16)


def test_a_file_swapped_for_a_link_after_listing_is_not_read(storage: LocalStorage, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", b"the password is swordfish")
    root = tmp_path / "docs"
    victim = write(root / "report.txt", b"quarterly figures")
    (info,) = storage.list(str(root))

    victim.unlink()
    victim.symlink_to(secret)

    with pytest.raises(PermanentError, match="symbolic link") as caught, storage.fetch(info.uri):
        pass
    assert "\n" not in str(caught.value)
    with pytest.raises(PermanentError, match="symbolic link"):
        storage.head(info.uri, 100)


def test_a_folder_on_the_path_swapped_for_a_link_is_not_followed(storage: LocalStorage, tmp_path: Path) -> None:
    write(tmp_path / "private" / "report.txt", b"the password is swordfish")
    report = write(tmp_path / "docs" / "sub" / "report.txt", b"quarterly figures")
    (info,) = storage.list(str(tmp_path / "docs"))

    (tmp_path / "docs" / "sub").rename(tmp_path / "old")
    (tmp_path / "docs" / "sub").symlink_to(tmp_path / "private")

    assert info.uri == str(report)
    with pytest.raises(PermanentError, match="symbolic link"), storage.fetch(info.uri):
        pass


def test_what_fetch_gives_stays_the_file_that_was_checked(storage: LocalStorage, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", b"the password is swordfish")
    path = write(tmp_path / "docs" / "report.txt", b"quarterly figures")

    with storage.fetch(str(path)) as local:
        path.unlink()
        path.symlink_to(secret)  # swapped while the decoder holds it
        assert local.name == "report.txt"
        assert local.read_bytes() == b"quarterly figures"


@pytest.fixture
def no_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without /proc (macOS, the BSDs): open files have no name to hand a reader."""
    monkeypatch.setattr(local, "_PROC", str(tmp_path / "no-proc"))


@pytest.mark.usefixtures("no_proc")
def test_without_proc_what_fetch_gives_stays_the_file_that_was_checked(storage: LocalStorage, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", b"the password is swordfish")
    path = write(tmp_path / "docs" / "report.txt", b"quarterly figures")

    with storage.fetch(str(path)) as local_path:
        path.unlink()
        path.symlink_to(secret)  # swapped while the decoder holds it
        assert local_path.name == "report.txt"
        assert local_path.read_bytes() == b"quarterly figures"
    assert not local_path.exists()  # the private copy is gone with the fetch


@pytest.mark.usefixtures("no_proc")
def test_without_proc_a_file_past_the_cap_is_not_copied(tmp_path: Path) -> None:
    path = write(tmp_path / "big.bin", b"x" * 11)
    fd = local.open_regular(path)
    try:
        with pytest.raises(TooLarge, match="MMINDEX_S3__MAX_OBJECT_BYTES"), local.pinned(fd, path, max_bytes=10):
            pass
    finally:
        os.close(fd)
