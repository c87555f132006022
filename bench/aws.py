"""The S3 buckets and the SQS queue the events benchmark makes for itself, and removes at the end."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from shared.config import Settings
from shared.errors import PermanentError

UPLOADERS = 16
"""Uploads at a time (each needs a connection of the S3 client's pool)."""


def clients(base: Settings) -> tuple[Any, Any]:
    """S3 and SQS clients for the configured endpoints."""
    config = Config(max_pool_connections=UPLOADERS)
    try:
        s3 = boto3.client("s3", endpoint_url=base.s3.endpoint_url, region_name=base.s3.region, config=config)
        sqs = boto3.client("sqs", endpoint_url=base.events.sqs_endpoint_url, region_name=base.s3.region)
    except NoRegionError:
        raise PermanentError(
            "SQS needs a region: set MMINDEX_S3__REGION or AWS_DEFAULT_REGION (any region, for an emulator)"
        ) from None
    return s3, sqs


def create_bucket(s3: Any, name: str) -> None:
    region = s3.meta.region_name
    where = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region not in (None, "us-east-1") else {}
    s3.create_bucket(Bucket=name, **where)


def delete_bucket(s3: Any, name: str) -> None:
    """The bucket and everything in it (the sources and the pipeline's artifacts)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def create_queue(sqs: Any, name: str) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url


def notify(s3: Any, sqs: Any, bucket: str, queue_url: str) -> None:
    """Let S3 write to the queue, and tell it of every object created in `bucket`."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
