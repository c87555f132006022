"""The one settings object: environment variables prefixed `MMINDEX_`, nested with `__`.

The names in the README's configuration table are a contract; scripts and docs use them.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.documents import FusionMethod, Normalization, SearchMode
from shared.errors import mask
from shared.home_settings import DEFAULT_HOME, home_settings_file
from shared.model_settings import ModelSettings
from shared.setting_group import Group


class StoreKind(StrEnum):
    EMBEDDED = "embedded"
    OPENSEARCH = "opensearch"


class OpenSearchSettings(Group):
    url: str | None = Field(None, description="OpenSearch endpoint, e.g. https://search-x.eu-west-1.es.amazonaws.com")
    auth: Literal["none", "basic", "sigv4"] = Field("none", description="How requests are authenticated")
    service: Literal["es", "aoss"] = Field("es", description="SigV4 service: managed domain or serverless")
    region: str | None = Field(None, description="AWS region for SigV4; boto3's default when unset")
    index: str = Field("mmindex", description="Index alias that holds the documents")
    username: str | None = Field(None, description="User for basic auth")
    password: SecretStr | None = Field(None, description="Password for basic auth")
    engine: Literal["auto", "faiss", "lucene", "nmslib"] = Field(
        "auto", description="k-NN engine of the vector fields; `auto`: faiss on AWS, lucene on any other node"
    )
    space_type: Literal["cosinesimil", "innerproduct", "l2"] = Field(
        "cosinesimil", description="k-NN distance of the vector fields (vectors are normalized)"
    )
    m: int = Field(16, ge=2, le=100, description="HNSW graph degree of a new index's vector fields")
    ef_construction: int = Field(128, ge=2, description="HNSW candidate list while building a new index's graph")
    ef_search: int = Field(
        100, ge=1, le=10_000, description="HNSW candidate list per search (neighbours asked of the graph, at least k)"
    )
    refresh: Literal["false", "wait_for", "true"] = Field(
        "false", description="Refresh policy of bulk writes; `false` leaves it to the index's refresh interval"
    )
    replicas: int = Field(1, ge=0, description="Replicas of a new index")
    bulk_docs: int = Field(500, gt=0, description="Documents per bulk request at most")
    bulk_bytes: int = Field(10 * 1024**2, gt=0, description="Bytes per bulk request at most")
    max_retries: int = Field(5, ge=0, description="Retries of a request answered 429 or 502-504, with backoff")
    timeout_s: float = Field(30.0, gt=0, description="Request timeout")
    verify_certs: bool = Field(True, description="Verify the endpoint's TLS certificate")

    @property
    def on_aws(self) -> bool:
        """A managed domain or a serverless collection: signed requests, or an amazonaws.com host."""
        host = urlsplit(self.url or "").hostname or ""
        return self.auth == "sigv4" or host.endswith(".amazonaws.com")

    def knn_engine(self) -> str:
        """The engine new vector fields get: the setting, with `auto` resolved by the target.

        AWS carries the native faiss engine on every domain and collection; a self-run node may not (a k-NN
        plugin without its native libraries stops at the first flush of a faiss index), and lucene runs on all.
        """
        if self.engine != "auto":
            return self.engine
        return "faiss" if self.on_aws else "lucene"


class S3Settings(Group):
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, emulator); AWS when unset")
    public_endpoint_url: str | None = Field(
        None, description="The endpoint browsers reach, for the links the API hands out; endpoint_url when unset"
    )
    region: str | None = Field(None, description="Region for the S3 client; boto3's default when unset")
    derived_prefix: str = Field(
        "_mmindex/", description="Prefix in each bucket for thumbnails and frames; intake ignores it"
    )
    max_object_bytes: int = Field(
        2 * 1024**3, gt=0, description="Objects larger than this fail as too large instead of being fetched"
    )


class VideoSettings(Group):
    sampling: Literal["fps", "keyframes", "scene"] = Field("fps", description="How frames are sampled")
    fps: float = Field(1.0, gt=0, le=60, description="Frames per second when sampling is `fps`")
    scene_threshold: float = Field(
        0.3, gt=0, lt=1, description="Scene-change score above which a frame is kept when sampling is `scene`"
    )
    max_frame_pixels: int = Field(
        40_000_000, gt=0, description="Videos whose frames have more pixels than this fail as too large"
    )


class MediaSettings(Group):
    """Time-based media: videos and recordings."""

    max_duration_s: float = Field(
        6 * 3600.0, gt=0, description="Videos and recordings longer than this fail as too long"
    )
    window_s: float = Field(300.0, gt=0, description="Longer media is decoded in windows of this length, one task each")
    ffmpeg_timeout_s: float = Field(
        240.0, gt=0, description="An ffmpeg run (one window) taking longer than this fails the source"
    )


class TextSettings(Group):
    chunk_chars: int = Field(1000, ge=100, description="Characters per text chunk at most (paragraphs kept whole)")
    overlap_chars: int = Field(200, ge=0, description="Characters a chunk repeats from the end of the one before")
    max_chunks: int = Field(
        20_000, gt=0, description="A document giving more chunks than this fails as too large (about 16 MB of text)"
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> TextSettings:
        if self.overlap_chars > self.chunk_chars // 2:
            raise ValueError("text.overlap_chars must be at most half of text.chunk_chars")
        return self


class ImageSettings(Group):
    max_pixels: int = Field(
        89_478_485, gt=0, description="Images with more pixels fail as decompression bombs (Pillow's default)"
    )
    thumbnail_px: int = Field(
        256, ge=64, description="Shorter side of the stored thumbnail, which is also the model's input"
    )
    max_decoded_bytes: int = Field(
        512 * 1024**2,
        gt=0,
        description="Images whose decoded pixels would take more memory than this fail as too large",
    )


class IngestSettings(Group):
    sources_per_task: int = Field(32, gt=0, description="Sources decoded by one decode task")
    decode_threads: int = Field(0, ge=0, description="Sources a decode task works on at once; 0 = cores / processes")
    wait_timeout_s: float = Field(3600.0, gt=0, description="How long `ingest --wait` waits at most")
    links: Literal["inside", "anywhere"] = Field(
        "inside",
        description="Symbolic links in an ingested or watched folder are followed only to targets inside it (`inside`)"
        " or to any file (`anywhere`)",
    )
    source_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Reading one document (PDF and text extraction) taking longer than this fails only that document;"
        " must be below tasks.soft_time_limit_s (media: media.ffmpeg_timeout_s per ffmpeg run)",
    )


def _name_list(value: Any) -> Any:
    """`a,b` or `["a", "b"]` from the environment; a list as it is."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [name.strip() for name in text.split(",") if name.strip()]
    return value


class EventSettings(Group):
    """The event intakes: `mmindex events sqs|webhook|watch`."""

    prefix: str = Field("", description="Only keys starting with this are indexed")
    suffix: str = Field("", description="Only keys ending with this are indexed (e.g. .jpg)")
    sqs_endpoint_url: str | None = Field(None, description="SQS-compatible endpoint (emulator); AWS when unset")
    linger_s: float = Field(
        1.0, ge=0, description="How long an intake waits for more events to fill a decode task (micro-batching)"
    )
    token: SecretStr | None = Field(None, description="Bearer token the webhook requires")
    buckets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Only events from these buckets are indexed (comma-separated or a JSON list); empty = all",
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, description="A webhook client must send its request (headers and body) within this long"
    )
    webhook_connections: int = Field(
        64, gt=0, description="Connections the webhook serves at once; more are closed at once, not queued"
    )
    webhook_max_bytes: int = Field(
        16 * 1024**2, gt=0, description="Largest request body the webhook accepts (413 above, 411 without a length)"
    )

    _buckets = field_validator("buckets", mode="before")(_name_list)

    watch_interval_s: float = Field(1.0, gt=0, description="How often `events watch` scans its folder")
    settle_s: float = Field(2.0, ge=0, description="A watched file unchanged this long has finished being written")


class ApiSettings(Group):
    """The HTTP API and search page: `mmindex serve`."""

    search_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer keys that may search and fetch files (comma-separated)"
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer keys that may do everything (comma-separated)"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins whose pages may call the API (comma-separated); none by default"
    )
    max_body_bytes: int = Field(8 * 1024**2, gt=0, description="Largest JSON request body (413 above)")
    max_upload_bytes: int = Field(32 * 1024**2, gt=0, description="Largest multipart upload (413 above)")
    search_threads: int = Field(4, gt=0, description="Searches answered at once in embedded mode")
    link_ttl_s: int = Field(900, gt=0, description="How long a file link in a search answer stays valid")

    _lists = field_validator("search_keys", "admin_keys", "cors_origins", mode="before")(_name_list)

    @property
    def keyed(self) -> bool:
        """True when the server requires a key."""
        return bool(self.search_keys or self.admin_keys)


SIMILARITY = {"text": (0.28, 0.5), "vision": (0.2, 0.3), "image": (0.5, 0.9)}  # text: measured by `make eval`


class SearchSettings(Group):  # how a search ranks: `search`, the query pool, the HTTP API, `eval`
    mode: SearchMode = Field(SearchMode.HYBRID, description="dense, lexical or hybrid (dense and lexical fused)")
    fusion: FusionMethod = Field(FusionMethod.WEIGHTED, description="weighted (normalised scores) or rrf")
    normalization: Normalization = Field(Normalization.MIN_MAX, description="min_max or z_score, per ranking")
    text_weight: float = Field(1.0, ge=0, le=1, description="Weight of the text space's vector ranking")
    vision_weight: float = Field(1.0, ge=0, le=1, description="Weight of the vision space's vector ranking")
    lexical_weight: float = Field(0.8, ge=0, le=1, description="Weight of the lexical (BM25) ranking")
    min_relevance: float = Field(0.3, ge=0, le=1, description="Hits less relevant (0-1) are dropped, or all of them")
    similarity: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(SIMILARITY),
        description="Per space (`image`: the vision space asked with an image), the cosine similarity at which a"
        " match starts to count and the one of a clear match, as JSON (a space left out keeps its default)",
    )
    rerank_candidates: int = Field(20, ge=1, le=200, description="Best text-bearing hits the cross-encoder rescores")

    @field_validator("similarity")
    @classmethod
    def _ordered(cls, scale: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (floor, top) in scale.items():
            if name not in SIMILARITY:
                raise ValueError(f"search.similarity: unknown scale {name!r}; choose from {', '.join(SIMILARITY)}")
            if not -1 <= floor < top <= 1:
                raise ValueError(f"search.similarity[{name}]: the floor must be below the top, both within -1..1")
        return {**SIMILARITY, **scale}


class FinetuneSettings(Group):  # how `mmindex finetune vision` changes its images
    crop_min: float = Field(0.6, gt=0, le=1, description="Smallest share of an image's area a random crop keeps")
    flip: float = Field(0.5, ge=0, le=1, description="Chance that an image is flipped left to right")
    jitter: float = Field(0.3, ge=0, lt=1, description="Brightness, contrast, saturation vary by up to this share")
    hue: float = Field(0.03, ge=0, le=0.5, description="Hue shifts by up to this share of the colour circle")


class GeneratorSettings(Group):  # who writes `mmindex ask`'s answers
    kind: Literal["local", "gemini", "openai"] = Field(
        "local", description="local (a small model on this machine), gemini, or openai (any OpenAI-compatible chat API)"
    )
    model: str = Field(
        "", description="Model name, or the local GGUF file; empty: gemini-2.5-flash, gpt-4o-mini, the packaged SmolLM2"
    )
    url: str | None = Field(None, description="Endpoint, e.g. http://127.0.0.1:11434/v1; the service's own when unset")
    api_key: SecretStr | None = Field(None, description="API key; unset: GEMINI_API_KEY or OPENAI_API_KEY")
    api_key_file: Path | None = Field(None, description="A file holding the API key (a mounted secret)")
    timeout_s: float = Field(120.0, gt=0, description="An answer not finished in this long fails in one line")
    max_retries: int = Field(3, ge=0, description="Retries of a 429 or 5xx answer, with backoff")
    context_tokens: int = Field(3000, ge=100, description="Tokens of sources in a prompt; weakest hits dropped first")
    max_tokens: int = Field(512, gt=0, description="Longest answer, in tokens")
    images: bool = Field(True, description="Hits' pictures go to a generator that reads them (gemini, openai)")


class TaskSettings(Group):
    soft_time_limit_s: int = Field(300, gt=0, description="A task is asked to stop after this long")
    time_limit_s: int = Field(360, gt=0, description="A task is killed after this long")
    max_retries: int = Field(5, ge=0, description="Retries of retryable errors before a source fails")
    visibility_timeout_s: int = Field(3600, gt=0, description="Broker redelivers unacknowledged tasks after this")
    query_timeout_s: float = Field(60.0, gt=0, description="How long `search` waits for the query pool")
    sweep_interval_s: float = Field(
        60.0, gt=0, description="How often workers look for stranded sources and check that the ledger kept its state"
    )
    stranded_after_s: float | None = Field(
        None,
        gt=0,
        description="A source in flight this long with no task queued or held is queued again; unset = the"
        " visibility timeout",
    )

    @property
    def stranded_threshold_s(self) -> float:
        """How long a source may stay in flight, untouched, before it counts as stranded."""
        return self.stranded_after_s if self.stranded_after_s is not None else float(self.visibility_timeout_s)

    @model_validator(mode="after")
    def _limits_fit(self) -> TaskSettings:
        if self.soft_time_limit_s >= self.time_limit_s:
            raise ValueError("tasks.soft_time_limit_s must be below tasks.time_limit_s")
        if self.visibility_timeout_s <= self.time_limit_s:
            raise ValueError("tasks.visibility_timeout_s must exceed tasks.time_limit_s, or tasks run twice")
        return self


class Settings(BaseSettings):
    """Everything mmindex can be told, from `MMINDEX_*` variables or /run/secrets."""

    model_config = SettingsConfigDict(
        env_prefix="MMINDEX_",
        env_nested_delimiter="__",
        extra="forbid",
        secrets_dir="/run/secrets" if Path("/run/secrets").is_dir() else None,
    )

    home: Path = Field(Path(DEFAULT_HOME), description="Embedded data: store, ledger, artifacts")
    broker_url: str | None = Field(None, description="Redis URL; unset = embedded mode (tasks run in-process)")
    store: StoreKind = Field(StoreKind.EMBEDDED, description="Where vectors live")
    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    image: ImageSettings = Field(default_factory=ImageSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    pipeline_version: str = Field("1", description="Bump to re-index unchanged sources after a pipeline change")
    worker_processes: int = Field(
        1, gt=0, description="Processes in this worker's pool; set by `mmindex worker` to share CPU threads"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_names(cls, data: Any) -> Any:
        """A misspelt variable must not be silently ignored (pydantic-settings skips unknown top-level names)."""
        known = {name.upper() for name in cls.model_fields}
        unknown = sorted(
            name
            for name in os.environ
            if name.startswith("MMINDEX_") and name.removeprefix("MMINDEX_").split("__")[0] not in known
        )
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; see the README's configuration table")
        return data

    @model_validator(mode="after")
    def _broker_well_formed(self) -> Settings:
        """A broker URL is redis:// or rediss://, with a host and a valid port, or it is refused in one line."""
        if self.broker_url is None:
            return self
        shape = "like redis://[:password@]host:6379/0"
        url = urlsplit(self.broker_url)
        try:
            url.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError:
            raise ValueError(
                f"MMINDEX_BROKER_URL={mask(self.broker_url)} has an invalid port; write it {shape}"
            ) from None
        if url.scheme not in {"redis", "rediss"}:
            raise ValueError(
                f"MMINDEX_BROKER_URL={mask(self.broker_url)} is not a redis:// or rediss:// URL; write it {shape}"
            )
        if not url.hostname:
            raise ValueError(f"MMINDEX_BROKER_URL={mask(self.broker_url)} names no host; write it {shape}")
        return self

    @model_validator(mode="after")
    def _broker_usable(self) -> Settings:
        """Celery's result backend refuses a TLS URL that does not say how to check the certificate."""
        broker = self.broker_url or ""
        if broker.startswith("rediss://") and "ssl_cert_reqs=" not in broker:
            raise ValueError(
                "MMINDEX_BROKER_URL: a rediss:// URL needs ?ssl_cert_reqs=required (or optional, none) at its end"
            )
        return self

    @model_validator(mode="after")
    def _source_fits_a_task(self) -> Settings:
        """A document is read within one decode task, so its own limit must leave the task time to end."""
        if self.ingest.source_timeout_s >= self.tasks.soft_time_limit_s:
            raise ValueError("ingest.source_timeout_s must be below tasks.soft_time_limit_s")
        return self

    @model_validator(mode="after")
    def _store_reachable(self) -> Settings:
        if self.store is StoreKind.OPENSEARCH and not self.opensearch.url:
            raise ValueError("MMINDEX_STORE=opensearch needs MMINDEX_OPENSEARCH__URL")
        if self.opensearch.auth == "basic" and not (self.opensearch.username and self.opensearch.password):
            raise ValueError("MMINDEX_OPENSEARCH__AUTH=basic needs __USERNAME and __PASSWORD")
        return self

    @property
    def distributed(self) -> bool:
        """True when a broker is configured: tasks go to worker pools instead of running in-process."""
        return self.broker_url is not None

    @property
    def artifacts_dir(self) -> Path:
        """Where thumbnails of local sources are written."""
        return self.home / "artifacts"

    def cpu_share(self) -> int:
        """This process's share of the cores: all of them, divided among the pool's processes."""
        return max(1, (os.cpu_count() or 1) // self.worker_processes)

    def torch_threads(self) -> int:
        """torch CPU threads per process: the setting, else this process's share of the cores."""
        return self.models.threads or self.cpu_share()

    def decode_threads(self) -> int:
        """Sources one decode task decodes at once (Pillow and ffmpeg release the GIL)."""
        return self.ingest.decode_threads or self.cpu_share()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment and, below it, the home's settings file."""
    file = home_settings_file()
    return Settings(_env_file=file) if file.is_file() else Settings()
