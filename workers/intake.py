"""Submitting sources: list them, ask the ledger what is new, queue decode tasks in groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.errors import PermanentError, SourceNotFound, one_line
from shared.ledger import FINAL, Action, SourceRecord, State
from shared.runtime import Runtime, get_runtime
from shared.storage import locate


@dataclass
class Submission:
    """What `submit` did with each input."""

    queued: list[tuple[str, str]] = field(default_factory=list)  # (source id, version)
    missing: list[str] = field(default_factory=list)  # ids of sources recorded as failed: not found
    skipped: list[str] = field(default_factory=list)
    unlisted: list[dict[str, str]] = field(default_factory=list)  # inputs that could not be listed

    @property
    def ids(self) -> list[str]:
        """Every source this submission recorded in the ledger."""
        return [id for id, _ in self.queued] + self.missing


def submit(uris: Sequence[str], runtime: Runtime | None = None) -> Submission:
    """Queue every new or changed source under `uris` (paths or s3:// URIs). Unchanged ones are skipped.

    Decode tasks go out as soon as a group fills, and whatever was recorded is sent even if listing
    stops half-way, so no source is left queued with no task on its way. Without a broker the tasks run
    right here, so the sources are finished when this returns.
    """
    from workers.decode import decode
    from workers.task import fail_sources

    runtime = runtime or get_runtime()
    submission = Submission()
    pipeline = runtime.settings.pipeline_version
    group: list[tuple[str, str]] = []

    def send() -> None:
        if group:
            decode.delay({"sources": list(group)})
            group.clear()

    try:
        for uri in uris:
            try:
                for info in runtime.storage(uri).list(uri):
                    id, action = runtime.ledger.submit(info, pipeline)
                    if action is Action.SKIP:
                        submission.skipped.append(info.uri)
                        continue
                    submission.queued.append((id, info.version))
                    group.append((id, info.version))
                    if len(group) >= runtime.settings.ingest.sources_per_task:
                        send()
            except SourceNotFound as error:
                # Recorded like any failed source, so that `status` shows it; its documents go too.
                missing = locate(uri)
                id, _ = runtime.ledger.submit(missing, pipeline)
                fail_sources([(id, missing.version)], one_line(error), gone=True)
                submission.missing.append(id)
            except PermanentError as error:  # e.g. access denied; transient faults abort the submission
                submission.unlisted.append({"uri": uri, "error": one_line(error)})
    finally:
        send()
    return submission


def outcome(records: Sequence[SourceRecord]) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(indexed uris, failed {uri, error}, still pending uris) of submitted sources."""
    indexed = [record.uri for record in records if record.state is State.DONE]
    failed = [
        {"uri": record.uri, "error": record.error or "failed"} for record in records if record.state is State.FAILED
    ]
    pending = [record.uri for record in records if record.state not in FINAL]
    return indexed, failed, pending
