"""`POST /v1/ask`: the answer as JSON with links to its sources, or streamed as server-sent events; a generator
that fails is one line, as a status or as the stream's last event."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import Server, events, running_api
from tests.support.chat import Reply, chat_standin
from tests.workers.api.conftest import Library

FERRY = "When does the ferry leave the harbour?"


def test_ask_answers_in_json_with_links_to_its_sources_and_streams_the_same_answer(
    api: Server, library: Library
) -> None:
    with api.client() as client:
        answered = client.post("/v1/ask", json={"question": FERRY, "k": 3})
        streamed = client.post("/v1/ask", json={"question": FERRY, "k": 3}, headers={"Accept": "text/event-stream"})
        note = next(c for c in answered.json()["citations"] if c["uri"] == str(library.note))
        media = client.get(note["media_url"])

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["answer"].strip() and body["model"].endswith(".gguf")
    assert "ferry leaves the harbour at seven" in note["text"]
    assert media.status_code == 200 and b"ferry leaves the harbour at seven" in media.content
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    kinds = [kind for kind, _ in events(streamed.text)]
    assert kinds[0] == "sources" and kinds[-1] == "answer" and "text" in kinds
    assert set(kinds[1:-1]) == {"text"}
    found = events(streamed.text)
    pieces = "".join(data["text"] for kind, data in found if kind == "text")
    final = found[-1][1]
    assert pieces.strip() == final["answer"]
    assert [c["uri"] for c in found[0][1]] == [c["uri"] for c in final["citations"]]


def test_a_failing_generator_is_a_502_in_json_and_the_last_event_of_a_stream(
    mmindex_env: dict[str, str], own_library: Library, tmp_path: Path
) -> None:
    with chat_standin(Reply(status=500)) as standin:
        env = {
            **mmindex_env,
            "MMINDEX_GENERATOR__KIND": "openai",
            "MMINDEX_GENERATOR__URL": standin.url,
            "MMINDEX_GENERATOR__MAX_RETRIES": "1",
        }
        with running_api(env, tmp_path / "logs" / "api.log") as server, server.client() as client:
            answered = client.post("/v1/ask", json={"question": FERRY})
            streamed = client.post("/v1/ask", json={"question": FERRY, "stream": True})
            empty = client.post("/v1/ask", json={"question": " "})

    assert answered.status_code == 502
    error = answered.json()["error"]
    assert error.startswith("openai failed (500): ") and "stand-in says 500" in error
    assert [kind for kind, _ in events(streamed.text)] == ["sources", "error"]
    assert events(streamed.text)[-1][1] == {"error": error}
    assert len(standin.requests) == 4  # each answer tried twice: once, and one retry
    assert empty.status_code == 422 and "question" in empty.json()["error"]
