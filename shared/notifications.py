"""Object notifications, in whichever envelope they arrive, read into one shape: `ObjectEvent`.

`parse` takes one queue message (text, bytes, or JSON already loaded) and returns the object events in it:

- **S3 notification** `{"Records": [{"eventName": "ObjectCreated:Put", "s3": {...}}]}`, as S3 sends it to SQS, SNS
  or Lambda. Keys are URL-encoded the way HTML forms are ("red flower.jpg" arrives as "red+flower.jpg"; AWS,
  "Event message structure"), so they are decoded with `unquote_plus`. MinIO (and Ceph, moto) post the same records;
  MinIO writes event names with an "s3:" prefix ("s3:ObjectCreated:Put"), sets `eventSource` to "minio:s3", adds
  top-level `EventName` and `Key` (which are ignored: the records say it all) and encodes "/" as "%2F" too.
- **S3 test event** `{"Service": "Amazon S3", "Event": "s3:TestEvent", ...}`, sent once when a notification is
  configured: no events.
- **SNS envelope** `{"Type": "Notification", "Message": "<one of these, as a string>"}`, as S3 -> SNS -> SQS
  delivers without raw message delivery: the message inside is parsed.
- **EventBridge event** `{"source": "aws.s3", "detail-type": "Object Created", "detail": {...}}`, as
  S3 -> EventBridge -> SQS delivers. Keys are taken as they are: AWS documents URL-encoding for the notification
  format only ("EventBridge event message structure" says nothing of it), real EventBridge events carry keys with
  ":" unencoded where notifications would say "%3A", and decoding an unencoded key is lossy ("c++.txt" would become
  "c  .txt").

Created events are every `ObjectCreated:*` (Put, Post, Copy, CompleteMultipartUpload); removed events are every
`ObjectRemoved:*` (Delete, DeleteMarkerCreated) and `LifecycleExpiration:*`, which EventBridge reports as
"Object Deleted" too. Other events (restores, tagging, ACLs, transitions, replication, reads) are ignored. A message
of no known shape, a record without a bucket or key, or one whose ETag or version id does not have the shape S3
gives them (a version names artifact folders and is sent back to S3: "../../x" is refused here) raises
`MalformedEvent`: retrying cannot mend it.

`parse` is stateless and reads one message at a time, so it neither drops duplicates nor orders events. S3 delivers
at least once and in no guaranteed order; what to do with an event is decided in the ledger, per key, by comparing
its `sequencer` with the last one applied (`newer`).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from shared.errors import PermanentError

_SNIPPET = 100
"""Characters of a bad message quoted in an error, at most."""


class MalformedEvent(PermanentError):
    """The message is not an object notification mmindex can read: fix the queue's producer, not the message."""


class EventKind(StrEnum):
    CREATED = "created"
    REMOVED = "removed"


@dataclass(frozen=True)
class ObjectEvent:
    """One object created (or overwritten) or removed, whichever shape it came in."""

    kind: EventKind
    bucket: str
    key: str
    """The object key as S3 stores it (decoded where the shape encodes it)."""
    etag: str | None
    """Without quotes; the ETag of the object created (or, where sent, of the one removed)."""
    version_id: str | None
    size: int | None
    sequencer: str | None
    """Hex string that orders events on one key; see `newer`."""
    time: str | None
    """When S3 says it happened, as given."""
    path: str | None = None
    """For a file of a local folder (the folder watch's events): its absolute path, which is then its URI."""

    @property
    def uri(self) -> str:
        return self.path if self.path is not None else f"s3://{self.bucket}/{self.key}"

    @classmethod
    def file_removed(cls, path: str) -> ObjectEvent:
        """A local file that left its folder, recorded as `shared.storage.locate` records a local source."""
        return cls(EventKind.REMOVED, "local", path, None, None, None, None, None, path=path)


# Event names without "s3:", by what comes before the first ":": what happened to the object.
_RECORD_KINDS: dict[str, EventKind] = {
    "ObjectCreated": EventKind.CREATED,
    "ObjectRemoved": EventKind.REMOVED,
    "LifecycleExpiration": EventKind.REMOVED,
}

# EventBridge detail-types; the rest ("Object Restore Completed", "Object Tags Added", ...) are ignored.
_DETAIL_KINDS: dict[str, EventKind] = {
    "Object Created": EventKind.CREATED,
    "Object Deleted": EventKind.REMOVED,
}


def parse(body: str | bytes | Mapping[str, Any]) -> list[ObjectEvent]:
    """The object events in one queue message, in the order the message lists them; [] for a test event.

    Raises `MalformedEvent` when the message is not JSON, has no known shape, or a record lacks its bucket or key.
    """
    message, text = _load(body)
    for recognises, read in _SHAPES:
        if recognises(message):
            return read(message, text)
    raise MalformedEvent(f"not an S3 notification, SNS envelope or EventBridge event: {_snippet(text)}")


def newer(sequencer: str | None, than: str | None) -> bool:
    """Whether the event with `sequencer` happened after the event with `than`, on the same key.

    S3's rule (AWS, Amazon S3 User Guide, "Event message structure"): the greater hexadecimal sequencer is the
    later event, and "the sequencers can be of different lengths. To compare these values, first right pad the
    shorter value with zeros, and then do a lexicographical comparison." So the padding is trailing, not leading:
    "0055AED6DCD90281E5" follows "0055AED6DCD90281" (read as "0055AED6DCD9028100"). Sequencers order events on one
    key only. Equal sequencers are the same event delivered twice: not newer. Without a sequencer on either side
    the order is unknown and the event is applied: True.
    """
    if sequencer is None or than is None:
        return True
    width = max(len(sequencer), len(than))
    return sequencer.upper().ljust(width, "0") > than.upper().ljust(width, "0")


@dataclass(frozen=True)
class EventFilter:
    """Which events intake feeds on: keys under `prefix` ending in `suffix` (case-sensitive, as S3's own filters)."""

    prefix: str = ""
    suffix: str = ""
    ignore_prefix: str = "_mmindex/"
    """Where mmindex writes its own artifacts (settings.s3.derived_prefix): never feed on our own output."""
    buckets: frozenset[str] = frozenset()
    """Only events from these buckets (settings.events.buckets); empty: every bucket."""

    def accepts(self, event: ObjectEvent) -> bool:
        key = event.key
        if self.buckets and event.bucket not in self.buckets:
            return False
        if not key or key.endswith("/"):  # no object, or a "folder" placeholder
            return False
        if self.ignore_prefix and key.startswith(self.ignore_prefix):
            return False
        return key.startswith(self.prefix) and key.endswith(self.suffix)


# ---------------------------------------------------------------- shapes


def _records(message: Mapping[str, Any], text: str) -> list[ObjectEvent]:
    records = message["Records"]
    if not isinstance(records, list):
        raise MalformedEvent(f"Records is not a list: {_snippet(text)}")
    events = []
    for index, record in enumerate(records):
        event = _record(_mapping(record, f"Records[{index}]", text), f"Records[{index}]", text)
        if event is not None:
            events.append(event)
    return events


def _record(record: Mapping[str, Any], where: str, text: str) -> ObjectEvent | None:
    source = record.get("eventSource")
    if source is not None and not (isinstance(source, str) and source.endswith(":s3")):
        raise MalformedEvent(f"{where} comes from {source!r}, not S3: {_snippet(text)}")
    name = _text(record.get("eventName"), f"{where}.eventName", text)
    kind = _RECORD_KINDS.get(name.removeprefix("s3:").split(":", 1)[0])
    if kind is None:
        return None
    s3 = _mapping(record.get("s3"), f"{where}.s3", text)
    bucket = _mapping(s3.get("bucket"), f"{where}.s3.bucket", text)
    obj = _mapping(s3.get("object"), f"{where}.s3.object", text)
    return ObjectEvent(
        kind=kind,
        bucket=_text(bucket.get("name"), f"{where}.s3.bucket.name", text),
        key=unquote_plus(_key(obj.get("key"), f"{where}.s3.object.key", text)),
        etag=_etag(obj.get("eTag"), f"{where}.s3.object.eTag", text),
        version_id=_version_id(obj.get("versionId"), f"{where}.s3.object.versionId", text),
        size=_size(obj.get("size"), f"{where}.s3.object.size", text),
        sequencer=_sequencer(obj.get("sequencer"), f"{where}.s3.object.sequencer", text),
        time=_time(record.get("eventTime"), f"{where}.eventTime", text),
    )


def _sns(message: Mapping[str, Any], text: str) -> list[ObjectEvent]:
    inner = message["Message"]
    if not isinstance(inner, str):
        raise MalformedEvent(f"SNS Message is not a string: {_snippet(text)}")
    try:
        return parse(inner)
    except MalformedEvent as error:
        raise MalformedEvent(f"in an SNS envelope: {error}") from error


def _eventbridge(message: Mapping[str, Any], text: str) -> list[ObjectEvent]:
    if message.get("source") != "aws.s3":
        raise MalformedEvent(f"EventBridge event from {message.get('source')!r}, not aws.s3: {_snippet(text)}")
    kind = _DETAIL_KINDS.get(message["detail-type"])
    if kind is None:
        return []
    detail = _mapping(message.get("detail"), "detail", text)
    bucket = _mapping(detail.get("bucket"), "detail.bucket", text)
    obj = _mapping(detail.get("object"), "detail.object", text)
    # AWS spells it "etag"; moto's EventBridge events say "eTag".
    etag = obj["etag"] if "etag" in obj else obj.get("eTag")
    return [
        ObjectEvent(
            kind=kind,
            bucket=_text(bucket.get("name"), "detail.bucket.name", text),
            key=_key(obj.get("key"), "detail.object.key", text),
            etag=_etag(etag, "detail.object.etag", text),
            version_id=_version_id(obj.get("version-id"), "detail.object.version-id", text),
            size=_size(obj.get("size"), "detail.object.size", text),
            sequencer=_sequencer(obj.get("sequencer"), "detail.object.sequencer", text),
            time=_time(message.get("time"), "time", text),
        )
    ]


_Reader = Callable[[Mapping[str, Any], str], list[ObjectEvent]]

_SHAPES: tuple[tuple[Callable[[Mapping[str, Any]], bool], _Reader], ...] = (
    (lambda m: "Records" in m, _records),
    (lambda m: m.get("Event") == "s3:TestEvent", lambda m, text: []),
    (lambda m: m.get("Type") == "Notification" and "Message" in m, _sns),
    (lambda m: "detail-type" in m and "source" in m, _eventbridge),
)
"""How each shape is told apart, in the order they are tried, and how it is read."""


# ---------------------------------------------------------------- fields


def _load(body: str | bytes | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The message as a mapping, and as text for error messages."""
    if isinstance(body, Mapping):
        return body, json.dumps(body, default=str, ensure_ascii=False)
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedEvent(f"not UTF-8 text: {_snippet(body.decode('utf-8', 'replace'))}") from error
    elif isinstance(body, str):
        text = body
    else:
        raise MalformedEvent(f"not a message: a {type(body).__name__}")
    try:
        message = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedEvent(f"not JSON ({error.msg} at character {error.pos}): {_snippet(text)}") from error
    except RecursionError as error:  # arrays or objects nested thousands deep
        raise MalformedEvent(f"JSON nested too deeply to be an S3 notification: {_snippet(text)}") from error
    if not isinstance(message, dict):
        raise MalformedEvent(f"not a JSON object: {_snippet(text)}")
    return message, text


def _snippet(text: str) -> str:
    return repr(text[:_SNIPPET]) + ("…" if len(text) > _SNIPPET else "")


def _mapping(value: Any, what: str, text: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{what} is missing or not an object: {_snippet(text)}")
    return value


def _text(value: Any, what: str, text: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{what} is missing or empty: {_snippet(text)}")
    return value


def _key(value: Any, what: str, text: str) -> str:
    # An empty key is read (and refused by EventFilter), a missing one is not.
    if not isinstance(value, str):
        raise MalformedEvent(f"{what} is missing or not a string: {_snippet(text)}")
    return value


def _optional(value: Any, what: str, text: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{what} is not a string: {_snippet(text)}")
    return value


_ETAG = re.compile(r"[0-9a-fA-F]{1,128}(?:-[0-9]{1,5})?")
"""An S3 ETag without its quotes: hex digits (an MD5 or a digest of parts), then "-N" after a multipart upload."""
_VERSION_ID = re.compile(r"[A-Za-z0-9._+/=-]{1,1024}")
"""An S3 version id: opaque, URL-ready, at most 1024 bytes (AWS's are base64-like, MinIO's UUIDs; "null" too)."""


def valid_etag(etag: str) -> bool:
    """Whether `etag` (quotes stripped) has the shape S3 gives ETags: what is used as a version must have it."""
    return _ETAG.fullmatch(etag) is not None


def _etag(value: Any, what: str, text: str) -> str | None:
    etag = _optional(value, what, text)
    if etag is None:
        return None
    etag = etag.strip('"')
    if not etag:
        return None
    if not valid_etag(etag):
        raise MalformedEvent(f"{what} is not an ETag (hex digits, then -N after a multipart upload): {_snippet(text)}")
    return etag


def _version_id(value: Any, what: str, text: str) -> str | None:
    version = _optional(value, what, text)
    if version is not None and (_VERSION_ID.fullmatch(version) is None or ".." in version.split("/")):
        raise MalformedEvent(f"{what} is not an S3 version id (up to 1024 URL-safe characters): {_snippet(text)}")
    return version


def _time(value: Any, what: str, text: str) -> str | None:
    # moto's EventBridge events carry a Unix timestamp instead of ISO 8601 text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _optional(value, what, text)


def _size(value: Any, what: str, text: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise MalformedEvent(f"{what} is not a byte count: {_snippet(text)}")


def _sequencer(value: Any, what: str, text: str) -> str | None:
    sequencer = _optional(value, what, text)
    if sequencer is not None and not all(c in string.hexdigits for c in sequencer):
        raise MalformedEvent(f"{what} is not hexadecimal: {_snippet(text)}")
    return sequencer
