"""shared/generations.py: a space's generations and what may happen to them."""

from __future__ import annotations

import pytest

from shared.documents import Space
from shared.errors import PermanentError
from shared.generations import Generation, GenerationState, Lineage, parse_number


def generation(number: int, model: str = "clip", dimension: int = 4) -> Generation:
    return Generation(Space.VISION, number, model, dimension, GenerationState.BUILDING, f"items_vision_g{number}")


def states(lineage: Lineage) -> dict[str, str]:
    return {g.name: g.state.value for g in lineage.generations}


def test_the_first_generation_serves_and_a_later_one_is_built_beside_it() -> None:
    lineage = Lineage(Space.VISION).add(generation(1)).add(generation(2, "tuned", 2))
    assert states(lineage) == {"g1": "serving", "g2": "building"}
    assert [g.number for g in lineage.live] == [1, 2]  # what ingestion writes to: the serving one first


def test_swap_retires_the_serving_one_and_rollback_serves_it_again() -> None:
    lineage = Lineage(Space.VISION).add(generation(1)).add(generation(2, "tuned"))
    swapped = lineage.swap(2)
    assert states(swapped) == {"g1": "retired", "g2": "serving"} and swapped.previous == 1
    assert [g.number for g in swapped.live] == [2]  # a retired generation is no longer written to
    back = swapped.rollback()
    assert states(back) == {"g1": "serving", "g2": "retired"} and back.previous == 2
    with pytest.raises(PermanentError, match="already serves"):
        back.swap(1)


def test_a_serving_generation_cannot_be_dropped_and_a_dropped_number_is_not_given_again() -> None:
    lineage = Lineage(Space.VISION).add(generation(1)).add(generation(2)).swap(2)
    with pytest.raises(PermanentError, match="swap another in before dropping it"):
        lineage.drop(2)
    dropped = lineage.drop(1)
    assert states(dropped) == {"g2": "serving"} and dropped.previous is None
    with pytest.raises(PermanentError, match="no earlier generation"):
        dropped.rollback()
    assert dropped.next_number() == 3
    assert Lineage(Space.VISION).add(generation(1)).add(generation(2)).drop(2).next_number() == 3


def test_a_retired_generation_is_built_again_and_a_lineage_survives_its_record() -> None:
    lineage = Lineage(Space.VISION).add(generation(1)).add(generation(2, "tuned")).swap(2)
    rebuilt = lineage.rebuild(1)
    assert states(rebuilt) == {"g1": "building", "g2": "serving"}
    assert Lineage.from_record(rebuilt.record()) == rebuilt
    with pytest.raises(PermanentError, match="has no generation g7"):
        rebuilt.get(7)


def test_a_generation_takes_only_its_own_model_s_vectors() -> None:
    assert generation(1, "clip").takes("clip") and not generation(1, "clip").takes("tuned")
    assert Generation(Space.TEXT, 1, None, 3, GenerationState.SERVING, "items_text").takes("anything")


@pytest.mark.parametrize(("given", "number"), [("2", 2), ("g3", 3), (" G12 ", 12)])
def test_a_generation_is_named_by_its_number_with_or_without_its_g(given: str, number: int) -> None:
    assert parse_number(given) == number


@pytest.mark.parametrize("given", ["", "g", "0", "two", "-1"])
def test_anything_else_is_not_a_generation(given: str) -> None:
    with pytest.raises(PermanentError, match="not a generation"):
        parse_number(given)
