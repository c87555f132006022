"""shared/notifications.py: S3, SNS, EventBridge and MinIO notifications read into one shape; sequencer order; filter.

The moto bodies were captured from moto 5.2.5's standalone server (S3 -> SQS, read with receive_message); the
others are the examples in AWS's "Event message structure" and "EventBridge event message structure" pages,
AWS's SNS notification format, and MinIO's bucket notification guide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.errors import PermanentError
from shared.notifications import EventFilter, EventKind, MalformedEvent, ObjectEvent, newer, parse

CREATED, REMOVED = EventKind.CREATED, EventKind.REMOVED

# ---------------------------------------------------------------- bodies captured from moto (S3 -> SQS)

MOTO_TEST_EVENT = (
    '{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-26T13:48:38.600Z", "Bucket": "plain"}'
)

# put_object(Key="my photoé+1.jpg", Body=b"hello")
MOTO_PUT = (
    '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": '
    '"2026-11-26T13:48:38.640Z", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", '
    '"configurationId": "mmindex", "bucket": {"name": "plain", "arn": "arn:aws:s3:::plain"}, "object": {"key": '
    '"my+photo%C3%A9%2B1.jpg", "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592"}}}]}'
)

# copy_object(Key="copy/my photoé+1.jpg", ...): moto encodes "/" as %2F, as MinIO does (AWS leaves "/" as is).
MOTO_COPY = (
    '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": '
    '"2026-11-26T13:48:38.664Z", "eventName": "ObjectCreated:Copy", "s3": {"s3SchemaVersion": "1.0", '
    '"configurationId": "mmindex", "bucket": {"name": "plain", "arn": "arn:aws:s3:::plain"}, "object": {"key": '
    '"copy%2Fmy+photo%C3%A9%2B1.jpg", "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592"}}}]}'
)

# complete_multipart_upload(Key="big file.bin"): moto sends a Put, then the CompleteMultipartUpload.
MOTO_MULTIPART = (
    '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": '
    '"2026-11-26T13:48:38.702Z", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", '
    '"configurationId": "mmindex", "bucket": {"name": "plain", "arn": "arn:aws:s3:::plain"}, "object": {"key": '
    '"big+file.bin", "size": 100, "eTag": "bccb8986cc6b395e4f045d410c776698-1"}}}]}',
    '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": '
    '"2026-11-26T13:48:38.704Z", "eventName": "ObjectCreated:CompleteMultipartUpload", "s3": {"s3SchemaVersion": '
    '"1.0", "configurationId": "mmindex", "bucket": {"name": "plain", "arn": "arn:aws:s3:::plain"}, "object": '
    '{"key": "big+file.bin", "size": 100, "eTag": "bccb8986cc6b395e4f045d410c776698-1"}}}]}',
)

# delete_object(Key="my photoé+1.jpg") on an unversioned bucket: moto sends the deleted object's size and ETag.
MOTO_DELETE = (
    '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": '
    '"2026-11-26T13:48:38.727Z", "eventName": "ObjectRemoved:Delete", "s3": {"s3SchemaVersion": "1.0", '
    '"configurationId": "mmindex", "bucket": {"name": "plain", "arn": "arn:aws:s3:::plain"}, "object": {"key": '
    '"my+photo%C3%A9%2B1.jpg", "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592"}}}]}'
)

# ---------------------------------------------------------------- documented bodies

AWS_TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2014-10-13T15:57:02.089Z",
    "Bucket": "bucketname",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}

AWS_PUT: dict[str, Any] = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-west-2",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": "C3D13FE58DE4C810",
                "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "testConfigRule",
                "bucket": {
                    "name": "mybucket",
                    "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                    "arn": "arn:aws:s3:::mybucket",
                },
                "object": {
                    "key": "HappyFace.jpg",
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                    "sequencer": "0055AED6DCD90281E5",
                },
            },
        }
    ]
}

AWS_PUT_EVENT = ObjectEvent(
    kind=CREATED,
    bucket="mybucket",
    key="HappyFace.jpg",
    etag="d41d8cd98f00b204e9800998ecf8427e",
    version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
    size=1024,
    sequencer="0055AED6DCD90281E5",
    time="1970-01-01T00:00:00.000Z",
)


def sns(message: str) -> str:
    """An SNS notification as SQS holds it without raw message delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2012-05-02T00:54:06.655Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEw6JRN...",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
        }
    )


EVENTBRIDGE_CREATED: dict[str, Any] = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1"],
    "detail": {
        "version": "0",
        "bucket": {"name": "DOC-EXAMPLE-BUCKET1"},
        "object": {
            "key": "example-key",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "sequencer": "617f08299329d189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}

EVENTBRIDGE_DELETED: dict[str, Any] = {
    "version": "0",
    "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
    "detail-type": "Object Deleted",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1"],
    "detail": {
        "version": "0",
        "bucket": {"name": "DOC-EXAMPLE-BUCKET1"},
        "object": {
            "key": "example-key",
            "etag": "d41d8cd98f00b204e9800998ecf8427e",
            "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
            "sequencer": "617f0837b476e463",
        },
        "request-id": "0BH729840619AG5K",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "DeleteObject",
        "deletion-type": "Delete Marker Created",
    },
}

EVENTBRIDGE_RESTORED: dict[str, Any] = {
    "version": "0",
    "id": "6924de0d-13e2-6bbf-c0c1-b903b753565e",
    "detail-type": "Object Restore Completed",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1"],
    "detail": {
        "version": "0",
        "bucket": {"name": "DOC-EXAMPLE-BUCKET1"},
        "object": {
            "key": "example-key",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3",
        },
        "request-id": "189F19CB7FB1B6A4",
        "requester": "s3.amazonaws.com",
        "restore-expiry-time": "2021-11-13T00:00:00Z",
        "source-storage-class": "GLACIER",
    },
}

# MinIO's bucket notification guide (the Kafka target; webhooks post the same event log as JSON).
MINIO_PUT = """{
    "EventName": "s3:ObjectCreated:Put",
    "Key": "images/myphoto.jpg",
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "awsRegion": "",
            "eventTime": "2019-09-10T17:41:54Z",
            "eventName": "s3:ObjectCreated:Put",
            "userIdentity": {"principalId": "AKIAIOSFODNN7EXAMPLE"},
            "requestParameters": {
                "accessKey": "AKIAIOSFODNN7EXAMPLE",
                "region": "",
                "sourceIPAddress": "192.168.56.192"
            },
            "responseElements": {
                "x-amz-request-id": "15C3249451E12784",
                "x-minio-deployment-id": "751a8ba6-acb2-42f6-a297-4cdf1cf1fa4f",
                "x-minio-origin-endpoint": "http://192.168.97.83:9000"
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "Config",
                "bucket": {
                    "name": "images",
                    "ownerIdentity": {"principalId": "AKIAIOSFODNN7EXAMPLE"},
                    "arn": "arn:aws:s3:::images"
                },
                "object": {
                    "key": "myphoto.jpg",
                    "size": 6474,
                    "eTag": "430f89010c77aa34fc8760696da62d08-1",
                    "contentType": "image/jpeg",
                    "userMetadata": {"content-type": "image/jpeg"},
                    "versionId": "1",
                    "sequencer": "15C32494527B46C5"
                }
            },
            "source": {"host": "192.168.56.192", "port": "", "userAgent": "Mozilla/5.0"}
        }
    ]
}"""


def record(name: str, key: str = "photos/cat.jpg", **obj: Any) -> dict[str, Any]:
    """An S3 notification of one record."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": name,
                "eventTime": "2024-05-01T12:00:00.000Z",
                "s3": {"bucket": {"name": "media"}, "object": {"key": key, **obj}},
            }
        ]
    }


def brief(events: list[ObjectEvent]) -> list[tuple[EventKind, str]]:
    return [(e.kind, e.uri) for e in events]


# ---------------------------------------------------------------- moto


def test_a_moto_put_gives_the_decoded_key_size_and_etag() -> None:
    (event,) = parse(MOTO_PUT)
    assert event == ObjectEvent(
        kind=CREATED,
        bucket="plain",
        key="my photoé+1.jpg",
        etag="5d41402abc4b2a76b9719d911017c592",
        version_id=None,
        size=5,
        sequencer=None,
        time="2026-11-26T13:48:38.640Z",
    )
    assert event.uri == "s3://plain/my photoé+1.jpg"


def test_a_moto_copy_is_a_creation_with_its_slash_decoded() -> None:
    assert brief(parse(MOTO_COPY)) == [(CREATED, "s3://plain/copy/my photoé+1.jpg")]


def test_a_moto_multipart_upload_arrives_twice_as_the_same_creation() -> None:
    first, second = (parse(body) for body in MOTO_MULTIPART)
    assert brief(first) == brief(second) == [(CREATED, "s3://plain/big file.bin")]
    assert first[0].etag == second[0].etag == "bccb8986cc6b395e4f045d410c776698-1"


def test_a_moto_delete_is_a_removal() -> None:
    (event,) = parse(MOTO_DELETE)
    assert (event.kind, event.key, event.sequencer) == (REMOVED, "my photoé+1.jpg", None)


def test_test_events_give_nothing() -> None:
    assert parse(MOTO_TEST_EVENT) == []
    assert parse(AWS_TEST_EVENT) == []
    assert parse(sns(json.dumps(AWS_TEST_EVENT))) == []


def test_moto_server_delivers_what_parse_reads(s3_endpoint: str, bucket: str) -> None:
    """Through a real S3 -> SQS notification: the key with a space, a "+" and an "é" comes back as written."""
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    queue = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    key = "holiday/my photoé+1.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
    s3.delete_object(Bucket=bucket, Key=key)

    events: list[ObjectEvent] = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            events += parse(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert brief(events) == [(CREATED, f"s3://{bucket}/{key}"), (REMOVED, f"s3://{bucket}/{key}")]


# ---------------------------------------------------------------- AWS, SNS, EventBridge, MinIO


def test_the_documented_s3_put_gives_every_field() -> None:
    assert parse(AWS_PUT) == [AWS_PUT_EVENT]


def test_text_bytes_and_loaded_json_read_alike() -> None:
    text = json.dumps(AWS_PUT)
    assert parse(text) == parse(text.encode()) == parse(AWS_PUT) == [AWS_PUT_EVENT]


def test_an_sns_envelope_is_opened() -> None:
    assert parse(sns(json.dumps(AWS_PUT))) == [AWS_PUT_EVENT]


def test_eventbridge_object_created() -> None:
    assert parse(json.dumps(EVENTBRIDGE_CREATED)) == [
        ObjectEvent(
            kind=CREATED,
            bucket="DOC-EXAMPLE-BUCKET1",
            key="example-key",
            etag="b1946ac92492d2347c6235b4d2611184",
            version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            size=5,
            sequencer="617f08299329d189",
            time="2021-11-12T00:00:00Z",
        )
    ]


def test_eventbridge_delete_marker_is_a_removal() -> None:
    (event,) = parse(EVENTBRIDGE_DELETED)
    assert (event.kind, event.key, event.size) == (REMOVED, "example-key", None)
    assert (event.version_id, event.sequencer) == ("1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF", "617f0837b476e463")


def test_eventbridge_keys_are_not_decoded() -> None:
    body = json.loads(json.dumps(EVENTBRIDGE_CREATED))
    body["detail"]["object"]["key"] = "notes/c++ and 100%.txt"
    (event,) = parse(body)
    assert event.key == "notes/c++ and 100%.txt"


def test_eventbridge_events_other_than_created_or_deleted_are_ignored() -> None:
    assert parse(EVENTBRIDGE_RESTORED) == []


def test_an_eventbridge_event_from_another_service_is_malformed() -> None:
    body = {**EVENTBRIDGE_CREATED, "source": "aws.ec2"}
    with pytest.raises(MalformedEvent, match=r"aws\.ec2"):
        parse(body)


def test_moto_style_eventbridge_fields_are_read() -> None:
    # moto names the ETag "eTag" and gives the time as a Unix timestamp.
    body = json.loads(json.dumps(EVENTBRIDGE_CREATED))
    body["time"] = 1732625318.6
    body["detail"]["object"]["eTag"] = body["detail"]["object"].pop("etag")
    (event,) = parse(body)
    assert (event.etag, event.time) == ("b1946ac92492d2347c6235b4d2611184", "1732625318.6")


def test_minio_names_with_the_s3_prefix_are_read() -> None:
    (event,) = parse(MINIO_PUT)
    assert event == ObjectEvent(
        kind=CREATED,
        bucket="images",
        key="myphoto.jpg",
        etag="430f89010c77aa34fc8760696da62d08-1",
        version_id="1",
        size=6474,
        sequencer="15C32494527B46C5",
        time="2019-09-10T17:41:54Z",
    )


def test_minio_removals_and_encoded_slashes() -> None:
    body = record("s3:ObjectRemoved:Delete", key="users%2Fabc%2Fclip+1.mp4")
    body["Records"][0]["eventSource"] = "minio:s3"
    assert brief(parse(body)) == [(REMOVED, "s3://media/users/abc/clip 1.mp4")]


# ---------------------------------------------------------------- event names


@pytest.mark.parametrize(
    "name",
    ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"],
)
def test_creations(name: str) -> None:
    assert brief(parse(record(name))) == [(CREATED, "s3://media/photos/cat.jpg")]


@pytest.mark.parametrize(
    "name",
    [
        "ObjectRemoved:Delete",
        "ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "LifecycleExpiration:Delete",
        "LifecycleExpiration:DeleteMarkerCreated",
    ],
)
def test_removals(name: str) -> None:
    assert brief(parse(record(name))) == [(REMOVED, "s3://media/photos/cat.jpg")]


@pytest.mark.parametrize(
    "name",
    [
        "ObjectRestore:Post",
        "ObjectRestore:Completed",
        "ObjectTagging:Put",
        "ObjectAcl:Put",
        "LifecycleTransition",
        "IntelligentTiering",
        "Replication:OperationFailedReplication",
        "ReducedRedundancyLostObject",
        "s3:ObjectAccessed:Get",
    ],
)
def test_other_events_are_ignored(name: str) -> None:
    assert parse(record(name)) == []


def test_records_keep_their_order_and_skip_what_is_ignored() -> None:
    body = {
        "Records": [
            *record("ObjectCreated:Put", key="a.jpg")["Records"],
            *record("ObjectTagging:Put", key="b.jpg")["Records"],
            *record("ObjectRemoved:Delete", key="c.jpg")["Records"],
        ]
    }
    assert brief(parse(body)) == [(CREATED, "s3://media/a.jpg"), (REMOVED, "s3://media/c.jpg")]
    assert parse({"Records": []}) == []


# ---------------------------------------------------------------- fields


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("my+photo%C3%A9.jpg", "my photoé.jpg"),
        ("red+flower.jpg", "red flower.jpg"),
        ("c%2B%2B+notes.txt", "c++ notes.txt"),
        ("photos/2024/cat.jpg", "photos/2024/cat.jpg"),
        ("photos%2F2024%2Fcat.jpg", "photos/2024/cat.jpg"),
        ("test%2F10%3A47%3A07.log", "test/10:47:07.log"),
        ("100%25+sure.pdf", "100% sure.pdf"),
        ("%E6%97%A5%E6%9C%AC.png", "日本.png"),
    ],
)
def test_notification_keys_are_url_decoded(encoded: str, key: str) -> None:
    (event,) = parse(record("ObjectCreated:Put", key=encoded))
    assert event.key == key


def test_etags_lose_their_quotes_and_missing_fields_are_none() -> None:
    (event,) = parse(record("ObjectCreated:Put", eTag='"abc123"', size="42", versionId="", sequencer=None))
    assert (event.etag, event.size, event.version_id, event.sequencer) == ("abc123", 42, None, None)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "not JSON"),
        ("hello", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[1, 2]", "not a JSON object"),
        ("{}", "not an S3 notification"),
        ('{"Message": "x"}', "not an S3 notification"),
        ('{"Records": {"s3": {}}}', "Records is not a list"),
        ('{"Records": ["x"]}', r"Records\[0\] is missing or not an object"),
        ('{"Records": [{"eventSource": "aws:s3"}]}', r"Records\[0\]\.eventName is missing"),
        ('{"Records": [{"eventSource": "aws:sqs", "eventName": "x"}]}', "'aws:sqs', not S3"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', r"Records\[0\]\.s3 is missing"),
        (json.dumps(record("ObjectCreated:Put")).replace('"name": "media"', '"name": ""'), "bucket.name"),
        ('{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]}', "key"),
        (json.dumps(record("ObjectCreated:Put", size=-1)), "size is not a byte count"),
        (json.dumps(record("ObjectCreated:Put", sequencer="later")), "sequencer is not hexadecimal"),
        (sns("not json"), "in an SNS envelope: not JSON"),
        ('{"Type": "Notification", "Message": {"Records": []}}', "SNS Message is not a string"),
        ('{"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "b"}}}', "object"),
    ],
)
def test_malformed_messages_say_what_is_wrong(body: str | bytes, says: str) -> None:
    with pytest.raises(MalformedEvent, match=says) as raised:
        parse(body)
    assert isinstance(raised.value, PermanentError)
    assert "\n" not in str(raised.value)


def test_a_malformed_message_quotes_at_most_100_characters() -> None:
    body = "x" * 10_000
    with pytest.raises(MalformedEvent) as raised:
        parse(body)
    assert "x" * 100 in str(raised.value)
    assert "x" * 101 not in str(raised.value)
    assert len(str(raised.value)) < 200


# ---------------------------------------------------------------- newer


def test_a_greater_sequencer_is_newer() -> None:
    assert newer("0055AED6DCD90281E6", "0055AED6DCD90281E5")
    assert not newer("0055AED6DCD90281E5", "0055AED6DCD90281E6")


def test_the_same_sequencer_is_a_duplicate_not_newer() -> None:
    assert not newer("0055AED6DCD90281E5", "0055AED6DCD90281E5")
    assert not newer("0055aed6dcd90281e5", "0055AED6DCD90281E5")


def test_shorter_sequencers_are_padded_on_the_right() -> None:
    assert newer("0055AED6DCD90281E5", "0055AED6DCD90281")
    assert not newer("0055AED6DCD90281", "0055AED6DCD90281E5")
    # Padded on the left, "1" would be "01" and older than "02"; AWS pads on the right: "10" is newer.
    assert newer("1", "02")
    assert not newer("02", "1")
    # Trailing zeros make no difference.
    assert not newer("617F0829", "617F082900")
    assert not newer("617F082900", "617F0829")


def test_no_sequencer_means_apply_it() -> None:
    assert newer(None, "0055AED6DCD90281E5")
    assert newer("0055AED6DCD90281E5", None)
    assert newer(None, None)


def test_newer_orders_events_delivered_out_of_order() -> None:
    delivered = ["0055AED6DCD90281E7", "0055AED6DCD90281E5", "0055AED6DCD90281E7", "0055AED6DCD90281E6"]
    applied: list[str] = []
    for sequencer in delivered:
        if not applied or newer(sequencer, applied[-1]):
            applied.append(sequencer)
    assert applied == ["0055AED6DCD90281E7"]


# ---------------------------------------------------------------- filter


def event(key: str, kind: EventKind = CREATED) -> ObjectEvent:
    return ObjectEvent(kind, "media", key, None, None, None, None, None)


def test_the_default_filter_takes_everything_but_our_own_artifacts() -> None:
    accepts = EventFilter().accepts
    assert accepts(event("photos/cat.jpg"))
    assert accepts(event("cat.jpg", REMOVED))
    assert not accepts(event("_mmindex/thumbnails/1/abc/0.jpg"))
    assert not accepts(event("_mmindex/thumbnails/1/abc/0.jpg", REMOVED))


def test_folders_and_empty_keys_are_not_objects() -> None:
    accepts = EventFilter().accepts
    assert not accepts(event(""))
    assert not accepts(event("photos/"))
    assert not accepts(event("photos/2024/", REMOVED))


def test_prefix_and_suffix() -> None:
    accepts = EventFilter(prefix="photos/", suffix=".jpg").accepts
    assert accepts(event("photos/2024/cat.jpg"))
    assert not accepts(event("videos/cat.jpg"))
    assert not accepts(event("photos/cat.png"))
    assert not accepts(event("photos/cat.JPG"))  # case-sensitive, as S3's own filters


def test_an_empty_ignore_prefix_ignores_nothing() -> None:
    assert EventFilter(ignore_prefix="").accepts(event("_mmindex/thumbnails/1/abc/0.jpg"))
    assert not EventFilter(ignore_prefix="derived/").accepts(event("derived/x.jpg"))
    assert EventFilter(ignore_prefix="derived/").accepts(event("_mmindex/x.jpg"))


# ---------------------------------------------------------------- versions are checked where events are read


@pytest.mark.parametrize(
    "obj",
    [
        {"eTag": "../../x"},
        {"eTag": '"../../x"'},
        {"eTag": "5d41402abc4b2a76b9719d911017c592/../x"},
        {"eTag": "abc-1-2"},
        {"eTag": "5d41402abc4b2a76b9719d911017c592", "versionId": "../../x"},
        {"eTag": "5d41402abc4b2a76b9719d911017c592", "versionId": "a b"},
        {"eTag": "5d41402abc4b2a76b9719d911017c592", "versionId": "x" * 1025},
    ],
)
def test_an_etag_or_version_id_that_is_not_one_rejects_the_event(obj: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent, match=r"is not an (ETag|S3 version id)"):
        parse(record("ObjectCreated:Put", **obj))
    bridge = json.loads(json.dumps(EVENTBRIDGE_CREATED))
    bridge["detail"]["object"].update(etag=obj["eTag"], **{"version-id": obj.get("versionId", "1")})
    with pytest.raises(MalformedEvent, match=r"is not an (ETag|S3 version id)"):
        parse(bridge)


def test_real_etags_and_version_ids_are_read() -> None:
    (event,) = parse(
        record(
            "ObjectCreated:CompleteMultipartUpload",
            eTag='"bccb8986cc6b395e4f045d410c776698-12"',
            versionId="3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
        )
    )
    assert event.etag == "bccb8986cc6b395e4f045d410c776698-12"
    assert event.version_id == "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"


def test_the_webhook_answers_400_to_a_hostile_etag_and_writes_nothing(tmp_path: Path) -> None:
    import threading
    import urllib.error
    import urllib.request

    from shared.config import Settings
    from shared.runtime import Runtime
    from workers.intakes.webhook import server

    home = tmp_path / "home"
    runtime = Runtime(Settings(home=home))
    hook = server("127.0.0.1", 0, "s3cret", runtime)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        body = record("ObjectCreated:Put", key="a.jpg", eTag="../../x", sequencer="0055AED6DCD90281E5")
        request = urllib.request.Request(
            f"http://127.0.0.1:{hook.server_address[1]}/",
            data=json.dumps(body).encode(),
            headers={"Authorization": "Bearer s3cret"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        assert answer.value.code == 400
        reason = json.load(answer.value)["error"]
        assert "eTag is not an ETag" in reason and "\n" not in reason
    finally:
        hook.shutdown()
        hook.server_close()
    assert sum(runtime.ledger.counts().values()) == 0  # nothing queued, so nothing for `settle` to delete
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home"]
