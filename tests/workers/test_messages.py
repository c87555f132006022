"""workers/messages.py: each stage's message keeps its wire format, so messages already queued are still read."""

from __future__ import annotations

import json

import numpy as np

from shared.documents import Item, Modality, Space
from shared.media import MediaKind
from workers.messages import MESSAGES, DecodeMessage, EmbedMessage, IndexMessage, Window, sources_of
from workers.queues import Queue


def wire(message: object) -> dict[str, object]:
    """What a task receives: the message through JSON, as the broker carries it."""
    data: dict[str, object] = json.loads(json.dumps(message))
    return data


def an_item(number: int, space: Space = Space.TEXT) -> Item:
    return Item(
        id=f"doc-{number}",
        source_id="src",
        source="/media/talk.mp4",
        version="v1",
        uri="/media/talk.mp4",
        modality=Modality.VIDEO,
        item=number,
        space=space,
        text=f"words {number}",
        start_s=float(number),
        end_s=number + 1.0,
    )


def test_a_decode_message_sent_before_this_module_existed_is_read() -> None:
    # The shape intake and decode wrote by hand: sources as pairs, a window as [part, parts, start, end].
    sent = {"sources": [["a", "v1"]], "window": [1, 3, 300.0, 600.0], "kind": "video"}

    message = DecodeMessage.from_message(wire(sent))

    assert message.sources == [("a", "v1")]
    assert message.window == Window(1, 3, 300.0, 600.0)
    assert message.kind is MediaKind.VIDEO
    assert wire(message.to_message()) == sent


def test_a_whole_source_decode_message_carries_no_window() -> None:
    message = DecodeMessage([("a", "v1"), ("b", "v2")])

    assert wire(message.to_message()) == {"sources": [["a", "v1"], ["b", "v2"]]}
    assert DecodeMessage.from_message(wire(message.to_message())) == message


def test_an_embed_message_names_each_source_once_and_its_items_come_back_typed() -> None:
    items = [an_item(2), an_item(1)]

    message = EmbedMessage.from_message(wire(EmbedMessage.of(items).to_message()))

    assert message.sources == [("src", "v1")]
    assert message.items == items
    assert message.items[0].space is Space.TEXT and message.items[0].modality is Modality.VIDEO


def test_vectors_reach_the_index_stage_bit_for_bit() -> None:
    items = [an_item(0, Space.VISION), an_item(1, Space.VISION)]
    vectors = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)

    message = IndexMessage.from_message(wire(IndexMessage.of(items, "clip", vectors).to_message()))

    assert message.model == "clip"
    assert message.items == items
    np.testing.assert_array_equal(message.vectors, vectors)


def test_every_pipeline_queue_has_its_message_and_names_its_sources() -> None:
    assert set(MESSAGES) == {Queue.DECODE, Queue.EMBED, Queue.INDEX}
    assert sources_of({"sources": [["a", "v1"]], "items": "anything else"}) == [("a", "v1")]
    assert sources_of({}) == []
