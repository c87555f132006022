"""Settings kept with an index: `MMINDEX_*=value` lines in a file under MMINDEX_HOME (e.g. the models `make demo`
chose), which `shared.config.get_settings` reads below the environment."""

from __future__ import annotations

import os
from pathlib import Path

HOME_SETTINGS = "settings.env"
"""A file of `MMINDEX_*=value` lines under MMINDEX_HOME (e.g. the models `make demo` chose), read below the
environment: a variable that is set wins over the file."""
DEFAULT_HOME = ".mmindex"


def home_settings_file() -> Path:
    """Where the settings kept with the index under MMINDEX_HOME live."""
    home = os.environ.get("MMINDEX_HOME") or DEFAULT_HOME
    return Path(home).expanduser() / HOME_SETTINGS


def save_home_settings(values: dict[str, str | None]) -> Path:
    """Keep `values` (`MMINDEX_*` names) in the home's settings file, over what it held for the same names;
    a name given None is taken out of it."""
    file = home_settings_file()
    kept: dict[str, str] = {}
    if file.is_file():
        for line in file.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                kept[name.strip()] = value.strip()
    kept.update({name: value for name, value in values.items() if value is not None})
    for name in (name for name, value in values.items() if value is None):
        kept.pop(name, None)
    file.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# mmindex settings kept with this index; MMINDEX_* variables in the environment win over them"]
    file.write_text("\n".join([*lines, *(f"{name}={value}" for name, value in kept.items())]) + "\n")
    return file
