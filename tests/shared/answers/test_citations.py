"""shared/answers/citations.py: an answer's `[n]` checked against its sources, as it is written."""

from __future__ import annotations

import pytest

from shared.answers.citations import Citations, checked


def test_a_number_that_names_no_source_is_taken_out_with_the_space_before_it() -> None:
    text, citations = checked("Ferries leave at seven [9]. The ship docks at ten [2].", 3)

    assert text == "Ferries leave at seven. The ship docks at ten [2]."
    assert citations.cited == [2]
    assert citations.invalid == [9]


def test_a_list_keeps_its_valid_numbers_and_adjacent_citations_stay_apart() -> None:
    text, citations = checked("Both say so [1, 4][3] and [2; 3].", 3)

    assert text == "Both say so [1][3] and [2, 3]."
    assert citations.cited == [1, 3, 2]
    assert citations.invalid == [4]


@pytest.mark.parametrize(
    "answer",
    ["Brackets [as here] stay.", "A list [a, b] too.", "An open bracket at the end [", "No citations at all."],
)
def test_brackets_that_are_not_citations_are_left_as_written(answer: str) -> None:
    text, citations = checked(answer, 3)

    assert text == answer
    assert citations.cited == citations.invalid == []


def test_an_answer_streamed_in_pieces_that_split_a_citation_is_cleaned_the_same() -> None:
    answer = "The ship docks at ten [2]. Ferries leave at seven [12]. Noon [1]."
    citations = Citations(3)
    pieces = [answer[i : i + 3] for i in range(0, len(answer), 3)]

    streamed = "".join(citations.feed(piece) for piece in pieces) + citations.close()

    assert streamed == checked(answer, 3)[0] == "The ship docks at ten [2]. Ferries leave at seven. Noon [1]."
    assert citations.invalid == [12]
