"""Talking to OpenSearch: the client as the settings configure it, its errors sorted, the index template.

`call` turns the client's errors into the project's (shared/errors.py): an unreachable node or a 429/5xx is
retryable, any other refusal permanent; a missing index stays `NotFoundError` for the caller to read as empty.
"""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)
from opensearchpy.exceptions import (
    ConnectionTimeout,
    NotFoundError,
    TransportError,
)

from shared.config import OpenSearchSettings
from shared.errors import PermanentError, StoreError, mask

UNREACHABLE = (OpenSearchConnectionError, ConnectionTimeout)
_KEYWORDS = ("id", "source_id", "source", "version", "uri", "modality", "space", "model", "pipeline")
VECTOR_PREFIX = "vector_"


def vector_field(space: str) -> str:
    return f"{VECTOR_PREFIX}{space}"


def base_mappings() -> dict[str, Any]:
    """Every field but the vectors: keywords to filter on, times, and the words for lexical search."""
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in _KEYWORDS}
    properties.update(
        item={"type": "integer"},
        # the words as written (standard analyzer), and with English stems for lexical search
        text={"type": "text", "fields": {"english": {"type": "text", "analyzer": "english"}}},
        thumbnail={"type": "keyword", "index": False},
        start_s={"type": "float"},
        end_s={"type": "float"},
        page={"type": "integer"},
    )
    return {"dynamic": "strict", "properties": properties}


def cosine(score: float, space_type: str) -> float:
    """The cosine similarity behind a k-NN score, for normalized vectors."""
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    if space_type == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    return 1.0 - (1.0 / score - 1.0) / 2.0  # l2: score = 1 / (1 + d^2), d^2 = 2 - 2 cos


def make_client(settings: OpenSearchSettings) -> OpenSearch:
    """A client for the endpoint, authenticated as the settings say."""
    options: dict[str, Any] = {
        "hosts": [settings.url],
        "timeout": settings.timeout_s,
        "max_retries": settings.max_retries,
        "retry_on_timeout": True,
        "retry_on_status": (429, 502, 503, 504),
        "verify_certs": settings.verify_certs,
    }
    if settings.auth == "basic":
        assert settings.username and settings.password
        options["http_auth"] = (settings.username, settings.password.get_secret_value())
    elif settings.auth == "sigv4":
        import boto3
        from opensearchpy import Urllib3AWSV4SignerAuth

        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise PermanentError("MMINDEX_OPENSEARCH__AUTH=sigv4 but boto3 finds no AWS credentials")
        region = settings.region or session.region_name
        if not region:
            raise PermanentError("MMINDEX_OPENSEARCH__AUTH=sigv4 needs MMINDEX_OPENSEARCH__REGION or AWS_REGION")
        options["http_auth"] = Urllib3AWSV4SignerAuth(credentials, region, settings.service)
    return OpenSearch(**options)


def call(where: str, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)`, its errors sorted; `where` names the endpoint (without its password)."""
    try:
        return function(*args, **kwargs)
    except UNREACHABLE as error:
        raise StoreError(mask(f"OpenSearch at {where} is unreachable during {what} ({error})")) from error
    except NotFoundError:
        raise
    except TransportError as error:
        status = error.status_code if isinstance(error.status_code, int) else 0
        if status == 429 or status >= 500:
            raise StoreError(f"OpenSearch answered {status} to {what}: {error.error}") from error
        raise PermanentError(f"OpenSearch refused {what} ({status} {error.error}: {error.info})") from error
