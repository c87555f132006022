"""shared/storage/s3.py against moto's S3 server, spoken to over HTTP like any S3-compatible endpoint."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.config import Settings
from shared.errors import PermanentError, SourceNotFound, TooLarge
from shared.storage.s3 import S3Storage, split_uri


@pytest.fixture
def client(s3_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def storage(s3_endpoint: str) -> S3Storage:
    return S3Storage(Settings(s3={"endpoint_url": s3_endpoint}))


@pytest.fixture
def own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of this test in a folder of its own, so leftovers can be seen."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def put(client: Any, bucket: str, *keys: str, body: bytes = b"data") -> None:
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=body)


def keys(storage: S3Storage, uri: str) -> list[str]:
    return sorted(info.key for info in storage.list(uri))


def test_a_prefix_lists_its_objects_but_not_derived_ones_or_directory_markers(
    storage: S3Storage, client: Any, bucket: str
) -> None:
    put(client, bucket, "trip/a.jpg", "trip/day2/b.jpg", "trip/", "trip/day2/", "_mmindex/thumb-a.jpg", "other/c.jpg")
    assert keys(storage, f"s3://{bucket}/trip/") == ["trip/a.jpg", "trip/day2/b.jpg"]
    assert keys(storage, f"s3://{bucket}/") == ["other/c.jpg", "trip/a.jpg", "trip/day2/b.jpg"]
    assert keys(storage, f"s3://{bucket}") == ["other/c.jpg", "trip/a.jpg", "trip/day2/b.jpg"]


def test_listed_objects_carry_uri_bucket_size_and_version(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "trip/a.jpg", body=b"12345")
    (info,) = storage.list(f"s3://{bucket}/trip/")
    assert (info.uri, info.root, info.key, info.size) == (f"s3://{bucket}/trip/a.jpg", bucket, "trip/a.jpg", 5)
    assert info.version and '"' not in info.version


def test_an_exact_key_lists_only_that_object(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "trip/a.jpg", "trip/a.jpg.xmp", "trip/a.jpg/inner.jpg")
    assert keys(storage, f"s3://{bucket}/trip/a.jpg") == ["trip/a.jpg"]


def test_a_prefix_without_trailing_slash_lists_what_is_under_it(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "trip/a.jpg", "trip/b.jpg")
    assert keys(storage, f"s3://{bucket}/trip") == ["trip/a.jpg", "trip/b.jpg"]


def test_a_prefix_with_many_objects_is_listed_across_pages(storage: S3Storage, client: Any, bucket: str) -> None:
    names = [f"many/{i:04d}.txt" for i in range(1005)]
    put(client, bucket, *names, body=b"x")
    assert keys(storage, f"s3://{bucket}/many/") == names


def test_a_missing_key_is_source_not_found(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "trip/a.jpg")
    missing = f"s3://{bucket}/trip/missing.jpg"
    with pytest.raises(SourceNotFound, match=r"missing\.jpg"):
        list(storage.list(missing))
    with pytest.raises(SourceNotFound):
        storage.stat(missing)
    with pytest.raises(SourceNotFound), storage.fetch(missing):
        pass


def test_a_prefix_holding_only_derived_objects_is_source_not_found(
    storage: S3Storage, client: Any, bucket: str
) -> None:
    put(client, bucket, "_mmindex/thumb.jpg", "empty/")
    with pytest.raises(PermanentError, match="where mmindex keeps its own artifacts"):
        list(storage.list(f"s3://{bucket}/_mmindex/"))
    with pytest.raises(SourceNotFound):
        list(storage.list(f"s3://{bucket}/empty/"))


def test_a_missing_bucket_is_source_not_found(storage: S3Storage) -> None:
    with pytest.raises(SourceNotFound):
        list(storage.list("s3://no-such-bucket-mmindex/"))
    with pytest.raises(SourceNotFound), storage.fetch("s3://no-such-bucket-mmindex/a.jpg"):
        pass


def test_a_uri_without_a_bucket_is_refused() -> None:
    with pytest.raises(PermanentError):
        split_uri("s3:///key")
    assert split_uri("s3://bucket/a/b.jpg") == ("bucket", "a/b.jpg")


def test_fetch_streams_to_a_temporary_file_removed_after_the_context(
    storage: S3Storage, client: Any, bucket: str, own_tempdir: Path
) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: more than one streamed chunk
    put(client, bucket, "video/clip.bin", body=body)
    with storage.fetch(f"s3://{bucket}/video/clip.bin") as local:
        assert local.read_bytes() == body
        assert own_tempdir in local.parents
    assert not local.exists()
    assert list(own_tempdir.iterdir()) == []


def test_fetch_cleans_up_when_the_work_inside_fails(
    storage: S3Storage, client: Any, bucket: str, own_tempdir: Path
) -> None:
    put(client, bucket, "a.txt")
    with pytest.raises(RuntimeError, match="decode failed"), storage.fetch(f"s3://{bucket}/a.txt") as local:
        raise RuntimeError("decode failed")
    assert not local.exists()
    assert list(own_tempdir.iterdir()) == []


def test_fetch_over_the_size_cap_is_too_large_and_leaves_nothing(
    s3_endpoint: str, client: Any, bucket: str, own_tempdir: Path
) -> None:
    storage = S3Storage(Settings(s3={"endpoint_url": s3_endpoint, "max_object_bytes": 100}))
    put(client, bucket, "fits.bin", body=b"x" * 100)
    put(client, bucket, "big.bin", body=b"x" * 101)
    with storage.fetch(f"s3://{bucket}/fits.bin") as local:
        assert local.stat().st_size == 100
    with pytest.raises(TooLarge, match="MMINDEX_S3__MAX_OBJECT_BYTES"), storage.fetch(f"s3://{bucket}/big.bin"):
        pass
    assert list(own_tempdir.iterdir()) == []


def test_put_then_fetch_round_trips(storage: S3Storage, client: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/notes/hello.txt"
    storage.put(uri, b"hello world", "text/plain")
    with storage.fetch(uri) as local:
        assert local.read_bytes() == b"hello world"
    assert client.head_object(Bucket=bucket, Key="notes/hello.txt")["ContentType"] == "text/plain"
    assert storage.stat(uri).size == 11


def test_artifacts_go_under_the_derived_prefix_and_are_not_listed(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "trip/a.jpg")
    source = storage.stat(f"s3://{bucket}/trip/a.jpg")
    artifact = storage.artifact_uri(source, "thumbs/a.jpg")
    assert artifact == f"s3://{bucket}/_mmindex/thumbs/a.jpg"
    storage.put(artifact, b"jpeg", "image/jpeg")
    assert keys(storage, f"s3://{bucket}/") == ["trip/a.jpg"]


def test_the_version_changes_when_the_object_is_overwritten(storage: S3Storage, client: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/doc.txt"
    put(client, bucket, "doc.txt", body=b"first")
    first = storage.stat(uri).version
    put(client, bucket, "doc.txt", body=b"second")
    assert storage.stat(uri).version != first


def test_an_object_has_one_version_whether_listed_by_key_or_by_prefix(
    storage: S3Storage, client: Any, bucket: str
) -> None:
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put(client, bucket, "trip/a.jpg")
    (by_prefix,) = storage.list(f"s3://{bucket}/trip/")
    (by_key,) = storage.list(f"s3://{bucket}/trip/a.jpg")
    assert by_prefix.version == by_key.version


def test_a_derived_object_named_exactly_is_not_a_source(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "_mmindex/thumbs/a.jpg")
    with pytest.raises(PermanentError, match="where mmindex keeps its own artifacts"):
        list(storage.list(f"s3://{bucket}/_mmindex/thumbs/a.jpg"))


def test_delete_tree_removes_a_folder_but_the_versions_kept(storage: S3Storage, client: Any, bucket: str) -> None:
    put(client, bucket, "_mmindex/thumbnails/s1/v1/0.jpg", "_mmindex/thumbnails/s1/v2/0.jpg")
    put(client, bucket, "_mmindex/thumbnails/s1/v2/1.jpg", "_mmindex/thumbnails/s10/v1/0.jpg")

    assert storage.delete_tree(f"s3://{bucket}/_mmindex/thumbnails/s1/", keep=("v2",)) == 1
    left = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == [
        "_mmindex/thumbnails/s1/v2/0.jpg",
        "_mmindex/thumbnails/s1/v2/1.jpg",
        "_mmindex/thumbnails/s10/v1/0.jpg",
    ]

    assert storage.delete_tree(f"s3://{bucket}/_mmindex/thumbnails/s1") == 2
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["_mmindex/thumbnails/s10/v1/0.jpg"]


def test_head_reads_only_the_start_and_checks_size_and_existence(
    storage: S3Storage, client: Any, bucket: str, s3_endpoint: str
) -> None:
    from shared.errors import SourceNotFound, TooLarge

    put(client, bucket, "big.bin", body=bytes(range(256)) * 64)
    put(client, bucket, "empty.bin", body=b"")
    assert storage.head(f"s3://{bucket}/big.bin", 10) == bytes(range(10))
    assert storage.head(f"s3://{bucket}/empty.bin", 10) == b""
    with pytest.raises(SourceNotFound):
        storage.head(f"s3://{bucket}/nothing.bin", 10)
    small = S3Storage(Settings(s3={"endpoint_url": s3_endpoint, "max_object_bytes": 1000}))
    with pytest.raises(TooLarge, match="16384 bytes exceeds the limit of 1000"):
        small.head(f"s3://{bucket}/big.bin", 10)


def test_reads_pinned_to_a_version_refuse_an_object_replaced_since(
    storage: S3Storage, client: Any, bucket: str
) -> None:
    from shared.storage import SourceChanged

    uri = f"s3://{bucket}/clip.mp4"
    client.put_object(Bucket=bucket, Key="clip.mp4", Body=b"\x1a\x45\xdf\xa3 first version")
    version = storage.stat(uri).version
    assert storage.head(uri, 4, version=version) == b"\x1a\x45\xdf\xa3"
    with storage.fetch(uri, version=version) as path:
        assert path.read_bytes().endswith(b"first version")
    media = storage.media_url(uri, 60, version=version)
    assert media is not None and media.headers == (("If-Match", f'"{version}"'),)

    client.put_object(Bucket=bucket, Key="clip.mp4", Body=b"#EXTM3U\nhttp://169.254.169.254/latest/meta-data/\n")
    replaced = f"{uri} was replaced after it was queued (its ETag is no longer {version});"
    with pytest.raises(SourceChanged) as failed:
        storage.head(uri, 4, version=version)
    assert str(failed.value).startswith(replaced)
    with pytest.raises(SourceChanged, match="was replaced after it was queued"), storage.fetch(uri, version=version):
        pass
    assert storage.head(uri, 7) == b"#EXTM3U"  # unpinned, as listing and intake read


def test_a_browser_link_goes_through_the_public_endpoint_and_fetches_the_object(
    s3_endpoint: str, client: Any, bucket: str
) -> None:
    import urllib.request

    put(client, bucket, "photos/a.jpg", body=b"the object's bytes")
    uri = f"s3://{bucket}/photos/a.jpg"
    public = s3_endpoint.replace("127.0.0.1", "localhost")  # the same server under the name a browser would use
    for endpoint, expected in ((None, s3_endpoint), (public, public)):
        storage = S3Storage(Settings(s3={"endpoint_url": s3_endpoint, "public_endpoint_url": endpoint}))
        link = storage.browser_link(uri, 60)
        assert link is not None and link.startswith(f"{expected}/{bucket}/photos/a.jpg?")
        with urllib.request.urlopen(link, timeout=30) as answer:
            assert answer.read() == b"the object's bytes"
