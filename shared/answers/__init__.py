"""Answers with citations (`mmindex ask`, `POST /v1/ask`): the best moments a search finds become numbered sources
(`context`), a generator writes the answer from them, and every `[n]` it writes is checked against them
(`citations`); `ask` puts the three together."""
