"""A CLIP with random weights, built offline, for the tests, the demo and the benchmarks.

No model hub is reachable on air-gapped machines, and no CLIP weights ship in a package. This builds a real
`transformers.CLIPModel` (any size: tiny for tests, ViT-B/32-sized for benchmarks, where cost depends on shape,
not weights) with a byte-level tokenizer, saved so that sentence-transformers loads it from the path like any
downloaded model. Its vectors carry no meaning beyond near-duplicate similarity; nothing here pretends otherwise.
Test and demo code: nothing in shared/ or workers/ imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClipShape:
    """The dimensions of a CLIP model."""

    image_size: int
    patch_size: int
    vision_width: int
    vision_layers: int
    vision_heads: int
    text_width: int
    text_layers: int
    text_heads: int
    embed_dim: int


TINY = ClipShape(
    image_size=32,
    patch_size=8,
    vision_width=32,
    vision_layers=2,
    vision_heads=2,
    text_width=32,
    text_layers=2,
    text_heads=2,
    embed_dim=32,
)
VIT_B_32 = ClipShape(
    image_size=224,
    patch_size=32,
    vision_width=768,
    vision_layers=12,
    vision_heads=12,
    text_width=512,
    text_layers=12,
    text_heads=8,
    embed_dim=512,
)


def _byte_vocab() -> dict[str, int]:
    """CLIP's byte-to-unicode alphabet, each symbol alone and word-final, plus specials."""
    # Same table as the GPT-2/CLIP tokenizers: printable bytes map to themselves,
    # the rest to code points from 256 on.
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    symbols: list[str] = [chr(b) for b in printable]
    extra = 0
    for b in range(256):
        if b not in printable:
            symbols.append(chr(256 + extra))
            extra += 1
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def build_random_clip(target: Path, shape: ClipShape = TINY, seed: int = 0) -> Path:
    """Write a random-weight CLIP model and its processor to `target`; return it."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    target.mkdir(parents=True, exist_ok=True)
    vocab = _byte_vocab()

    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": shape.text_width,
            "intermediate_size": shape.text_width * 4,
            "num_hidden_layers": shape.text_layers,
            "num_attention_heads": shape.text_heads,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "image_size": shape.image_size,
            "patch_size": shape.patch_size,
            "hidden_size": shape.vision_width,
            "intermediate_size": shape.vision_width * 4,
            "num_hidden_layers": shape.vision_layers,
            "num_attention_heads": shape.vision_heads,
        },
        projection_dim=shape.embed_dim,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    model.save_pretrained(target)

    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": shape.image_size},
        crop_size={"height": shape.image_size, "width": shape.image_size},
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(target)
    return target


RERANK_WORDS = (
    "the a of to and in is at for on ferry harbour leaves seven morning boat sail when does roses prune spring"
    " eggs sugar whisk rain hills tonight invoice paid code"
)
"""The random cross-encoder's vocabulary (other words become [UNK]): enough for the tests' queries and texts."""


def build_random_cross_encoder(target: Path, seed: int = 0) -> Path:
    """A tiny BERT with one output (a relevance logit) and random weights, saved where sentence-transformers'
    CrossEncoder loads it from the path. Its scores are real computations of a real model, and mean nothing: for
    the mechanics of reranking only (no cross-encoder weights ship in a package)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    vocab = target / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *RERANK_WORDS.split()]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=128)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
