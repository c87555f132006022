"""shared/documents.py: items and hits hold their space and modality as enums, and travel as the same strings."""

from __future__ import annotations

import json

import pytest

from shared.documents import Document, Hit, Item, Modality, Space, document_id


def frame() -> Item:
    return Item(
        id=document_id("local", "/v.mp4", "v1", 2000, Space.VISION),
        source_id="s",
        source="/v.mp4",
        version="v1",
        uri="/v.mp4",
        modality=Modality.VIDEO,
        item=2000,
        space=Space.VISION,
        start_s=2.0,
    )


def test_an_item_travels_with_its_space_and_modality_as_strings_and_comes_back_as_enums() -> None:
    message = json.loads(json.dumps(frame().to_message()))

    assert (message["space"], message["modality"]) == ("vision", "video")
    assert type(frame().to_message()["space"]) is str
    back = Item.from_message(message)
    assert back == frame()
    assert back.space is Space.VISION
    assert back.modality is Modality.VIDEO


def test_an_unknown_modality_in_a_message_is_refused() -> None:
    message = {**frame().to_message(), "modality": "hologram"}
    with pytest.raises(ValueError, match="hologram"):
        Item.from_message(message)


def test_the_stored_fields_are_plain_strings() -> None:
    fields = Document(frame(), [1.0, 0.0], "clip", "p1").fields()
    assert (fields["space"], fields["modality"]) == ("vision", "video")
    assert type(fields["space"]) is str and type(fields["modality"]) is str


def test_a_hit_made_from_stored_strings_holds_enums_and_prints_the_strings() -> None:
    hit = Hit(uri="/a.jpg", modality="image", score=0.5, space="vision")  # type: ignore[arg-type]
    assert hit.modality is Modality.IMAGE
    assert hit.space is Space.VISION
    printed = json.loads(json.dumps(hit.public()))
    assert printed["modality"] == "image"
    assert type(hit.public()["modality"]) is str
