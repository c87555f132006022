"""shared/errors.py: one-line messages, with the passwords of URLs in them masked."""

from __future__ import annotations

import pytest

from shared.errors import StoreError, mask, one_line


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
        (
            "rediss://worker:hunter2@redis:6380/0?ssl_cert_reqs=required",
            "rediss://worker:***@redis:6380/0?ssl_cert_reqs=required",
        ),
        ("at https://admin:p@ss:w0rd@search:9200/x failed", "at https://admin:***@search:9200/x failed"),
        ("redis://redis:6379/0 and http://host/a@b", "redis://redis:6379/0 and http://host/a@b"),
        ("redis://:p@ss/word@redis:6379/0 is down", "redis://:***@redis:6379/0 is down"),  # a / in the password
        ("redis://redis:6379/0?password=hunter2&db=1", "redis://redis:6379/0?password=***&db=1"),  # redis-py's form
    ],
)
def test_mask_hides_the_password_of_every_url(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_one_line_masks_urls_so_recorded_reasons_hold_no_password() -> None:
    error = StoreError("OpenSearch at https://admin:hunter2@search:9200 is unreachable\n during a bulk write")

    assert one_line(error) == "OpenSearch at https://admin:***@search:9200 is unreachable during a bulk write"
    assert "hunter2" not in one_line(ConnectionError("redis://:hunter2@h:1/0 refused"))
