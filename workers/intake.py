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

    Without a broker the tasks run right here, so the sources are finished when this returns.
    """
    from workers.decode import decode

    runtime = runtime or get_runtime()
    submission = Submission()
    pipeline = runtime.settings.pipeline_version
    for uri in uris:
        try:
            for info in runtime.storage(uri).list(uri):
                id, action = runtime.ledger.submit(info, pipeline)
                if action is Action.SKIP:
                    submission.skipped.append(info.uri)
                else:
                    submission.queued.append((id, info.version))
        except SourceNotFound as error:
            # Recorded like any failed source, so that `status` shows it too.
            id, _ = runtime.ledger.submit(locate(uri), pipeline)
            runtime.ledger.fail(id, "missing", one_line(error))
            submission.missing.append(id)
        except PermanentError as error:  # e.g. access denied; transient faults abort the whole submission
            submission.unlisted.append({"uri": uri, "error": one_line(error)})
    group = runtime.settings.ingest.sources_per_task
    for start in range(0, len(submission.queued), group):
        decode.delay({"sources": submission.queued[start : start + group]})
    return submission


def outcome(records: Sequence[SourceRecord]) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(indexed uris, failed {uri, error}, still pending uris) of submitted sources."""
    indexed = [record.uri for record in records if record.state is State.DONE]
    failed = [
        {"uri": record.uri, "error": record.error or "failed"} for record in records if record.state is State.FAILED
    ]
    pending = [record.uri for record in records if record.state not in FINAL]
    return indexed, failed, pending
