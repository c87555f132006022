"""S3 and S3-compatible storage through boto3; honours MMINDEX_S3__ENDPOINT_URL."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.config import Settings
from shared.errors import PermanentError, RetryableError, SourceNotFound, TooLarge
from shared.storage.protocol import MediaUrl, ObjectInfo, SourceChanged

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise PermanentError(f"{uri}: not an s3://bucket/key URI")
    return bucket, key


def classify(uri: str, error: Exception, version: str | None = None) -> Exception:
    """A boto error as mmindex's permanent or retryable kind, with a message a person can act on."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if version is not None and (code == "PreconditionFailed" or status == 412):
            return SourceChanged(
                f"{uri} was replaced after it was queued (its ETag is no longer {version}); the new content is"
                " indexed when it is ingested again or its upload event arrives"
            )
        if code in _MISSING:
            return SourceNotFound(f"{uri}: no such key or bucket ({code})")
        if code in _DENIED:
            return PermanentError(f"{uri}: access denied ({code}); check the worker's credentials and bucket policy")
        if status >= 500 or status == 429 or code in {"SlowDown", "Throttling", "RequestTimeout"}:
            return RetryableError(f"{uri}: S3 answered {code or status}")
        return PermanentError(f"{uri}: S3 refused the request ({code or status})")
    if isinstance(error, BotoConnectionError | BotoCoreError):
        return RetryableError(f"{uri}: cannot reach S3 ({type(error).__name__}: {error})")
    return error


def _if_match(version: str | None) -> dict[str, Any]:
    """The condition that the object still holds `version` (an ETag), for a GET or a presigned URL."""
    return {} if version is None else {"IfMatch": f'"{version}"'}


class S3Storage:
    """Objects in S3 buckets, named `s3://bucket/key`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.s3
        self._client: S3Client | None = None
        self._public: S3Client | None = None
        self._client_lock = Lock()

    def _new_client(self, endpoint_url: str | None) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=self._settings.region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    @property
    def client(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client(self._settings.endpoint_url)
            return self._client

    @property
    def public_client(self) -> S3Client:
        """The client whose presigned links browsers follow: through MMINDEX_S3__PUBLIC_ENDPOINT_URL when it is set
        (inside compose or a cluster, the endpoint the workers use is not one a browser can reach)."""
        if self._settings.public_endpoint_url is None:
            return self.client
        with self._client_lock:
            if self._public is None:
                self._public = self._new_client(self._settings.public_endpoint_url)
            return self._public

    def _derived(self, key: str) -> bool:
        return key.startswith(self._settings.derived_prefix)

    def _info(self, bucket: str, key: str, size: int, version: str) -> ObjectInfo:
        return ObjectInfo(uri=f"s3://{bucket}/{key}", root=bucket, key=key, size=size, version=version.strip('"'))

    def stat(self, uri: str) -> ObjectInfo:
        bucket, key = split_uri(uri)
        try:
            head: Any = self.client.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            raise classify(uri, error) from error
        # The ETag, not the version id: listings report only ETags, and one object must have one version.
        return self._info(bucket, key, int(head["ContentLength"]), head["ETag"])

    def list(self, uri: str) -> Iterator[ObjectInfo]:
        bucket, prefix = split_uri(uri)
        if self._derived(prefix):
            raise PermanentError(f"{uri}: under {self._settings.derived_prefix}, where mmindex keeps its own artifacts")
        if prefix and not prefix.endswith("/"):
            try:
                yield self.stat(uri)
                return
            except SourceNotFound:
                prefix += "/"  # not a key: a folder, as `aws s3 ls` reads it
        found = False
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    key = entry["Key"]
                    if key.endswith("/") or self._derived(key):
                        continue
                    found = True
                    yield self._info(bucket, key, int(entry["Size"]), entry["ETag"])
        except (ClientError, BotoCoreError) as error:
            raise classify(uri, error) from error
        if not found:
            raise SourceNotFound(f"{uri}: no such key or prefix")

    @contextmanager
    def fetch(self, uri: str, version: str | None = None) -> Iterator[Path]:
        bucket, key = split_uri(uri)
        limit = self._settings.max_object_bytes
        with tempfile.TemporaryDirectory(prefix="mmindex-fetch-") as directory:
            target = Path(directory) / "object"
            try:
                response: Any = self.client.get_object(Bucket=bucket, Key=key, **_if_match(version))
                size = int(response["ContentLength"])
                if size > limit:
                    response["Body"].close()
                    raise TooLarge(f"{uri}: {size} bytes exceeds the limit of {limit} (MMINDEX_S3__MAX_OBJECT_BYTES)")
                with target.open("wb") as out:
                    for chunk in response["Body"].iter_chunks(1 << 20):
                        out.write(chunk)
            except (ClientError, BotoCoreError) as error:
                raise classify(uri, error, version) from error
            yield target

    def head(self, uri: str, size: int, version: str | None = None) -> bytes:
        bucket, key = split_uri(uri)
        limit = self._settings.max_object_bytes
        try:
            response: Any = self.client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}", **_if_match(version)
            )
            total = int(str(response.get("ContentRange", "")).rpartition("/")[2] or response["ContentLength"])
            if total > limit:
                response["Body"].close()
                raise TooLarge(f"{uri}: {total} bytes exceeds the limit of {limit} (MMINDEX_S3__MAX_OBJECT_BYTES)")
            data: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as error:
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # an empty object
            raise classify(uri, error, version) from error
        return data

    def media_url(self, uri: str, expires_s: float, version: str | None = None) -> MediaUrl | None:
        bucket, key = split_uri(uri)
        params = {"Bucket": bucket, "Key": key, **_if_match(version)}
        try:
            url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(expires_s))
        except (ClientError, BotoCoreError) as error:
            raise classify(uri, error) from error
        # The header goes with every request the reader makes (signed too where the signature covers headers).
        headers = (("If-Match", params["IfMatch"]),) if version is not None else ()
        return MediaUrl(url, headers)

    def browser_link(self, uri: str, expires_s: float) -> str | None:
        bucket, key = split_uri(uri)
        try:
            url: str = self.public_client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(expires_s)
            )
        except (ClientError, BotoCoreError) as error:
            raise classify(uri, error) from error
        return url

    def put(self, uri: str, data: bytes, content_type: str) -> None:
        bucket, key = split_uri(uri)
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise classify(uri, error) from error

    def artifact_uri(self, source: ObjectInfo, name: str) -> str:
        return f"s3://{source.root}/{self._settings.derived_prefix}{name}"

    def delete_tree(self, uri: str, keep: Collection[str] = ()) -> int:
        bucket, prefix = split_uri(uri)
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        doomed: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    if entry["Key"].removeprefix(prefix).split("/", 1)[0] not in keep:
                        doomed.append(entry["Key"])
            for start in range(0, len(doomed), 1000):
                chunk = doomed[start : start + 1000]
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk]})
        except (ClientError, BotoCoreError) as error:
            raise classify(uri, error) from error
        return len(doomed)
