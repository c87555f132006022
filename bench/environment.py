"""A benchmark's own settings: the environment variables it changes for its run, as they were again after."""

from __future__ import annotations

import os
from collections.abc import Iterable


def saved(names: Iterable[str]) -> dict[str, str | None]:
    """The values of `names` now (None: unset), for `put_back`."""
    return {name: os.environ.get(name) for name in names}


def put_back(values: dict[str, str | None], *, app: bool = False) -> None:
    """The variables as `saved` found them, the process's runtime made again from them, and with `app` the Celery
    app configured again as the command's settings had it."""
    from shared.config import get_settings
    from shared.runtime import reset_runtime

    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_runtime()
    if app:
        from workers.app import configure

        configure(get_settings())
