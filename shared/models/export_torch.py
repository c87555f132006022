"""The torch side of an export: a sentence-transformers model's towers traced into fp32 ONNX graphs.

Loaded only to make an export (it needs torch, transformers and the `onnx` package). A CLIP model gives two
towers, `image` (pixel_values) and `text` (input_ids, attention_mask); a text model one, `text`, which runs the
whole sentence-transformers pipeline (transformer, pooling, its own normalisation). Each graph ends in an L2
normalisation and one output, `sentence_embedding`, with the batch and sequence axes free. The torch model's own
vectors for the parity probe are saved beside the graphs (`reference.npz`), as is the record of the towers.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ModelUnavailable
from shared.generations import fingerprint
from shared.models.probe import probe_images, probe_texts
from shared.models.sentence import cap_sequence_length

OUTPUT = "sentence_embedding"


def export_towers(name: str, folder: Path, preprocess: Path, opset: int) -> None:
    """Write `name`'s towers as ONNX graphs into `folder`, its tokenizer and image processor into `preprocess`."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError:
        raise ModelUnavailable("exporting a model needs the onnx package: pip install 'mmindex[onnx]'") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    model = SentenceTransformer(name, device="cpu")
    model.eval()
    cap_sequence_length(model)
    module = model[0]
    clip = "image" in set(getattr(model, "modalities", None) or [])
    processor = module.processor
    processor.save_pretrained(str(preprocess))
    tokenizer = getattr(processor, "tokenizer", processor)
    max_length = int(model.max_seq_length)
    sample = tokenizer(["a short text", "a somewhat longer text for tracing"], padding=True, return_tensors="pt")
    text_inputs = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in sample]
    if clip:
        towers: dict[str, Any] = {
            "image": (_ClipImage(module.model), ["pixel_values"]),
            "text": (_ClipText(module.model), ["input_ids", "attention_mask"]),
        }
    else:
        towers = {"text": (_SentenceText(model, text_inputs), text_inputs)}
    probe: dict[str, Any] = {"text": probe_texts(), "image": probe_images()}
    reference = {}
    with torch.inference_mode():
        for tower, (wrapper, inputs) in towers.items():
            if tower == "image":
                image_processor = processor.image_processor
                pixels = image_processor(images=probe["image"][:2], return_tensors="pt")["pixel_values"]
                args: tuple[Any, ...] = (pixels,)
                axes = {"pixel_values": {0: "batch"}}
            else:
                args = tuple(sample[key] for key in inputs)
                axes = {key: {0: "batch", 1: "sequence"} for key in inputs}
            with warnings.catch_warnings():  # the legacy exporter's deprecation notice and tracer warnings
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapper,
                    args,
                    str(folder / f"{tower}.onnx"),
                    input_names=inputs,
                    output_names=[OUTPUT],
                    dynamic_axes={**axes, OUTPUT: {0: "batch"}},
                    opset_version=opset,
                    dynamo=False,
                )
            vectors = model.encode(probe[tower], normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
            reference[tower] = np.asarray(vectors, dtype=np.float32)
    np.savez(folder / "reference.npz", **reference)  # type: ignore[arg-type]
    record = {
        "model": name,
        "towers": {tower: inputs for tower, (_, inputs) in towers.items()},
        "dimension": int(reference["text"].shape[1]),
        "max_length": max_length,
        "weights": fingerprint(model),
    }
    (folder / "towers.json").write_text(json.dumps(record, indent=2))


def _normalized(vectors: Any) -> Any:
    from torch.nn import functional

    return functional.normalize(vectors.float(), p=2.0, dim=-1)


def _features(output: Any) -> Any:
    """transformers 5 returns a model output from get_*_features; earlier versions the tensor."""
    return output if not hasattr(output, "pooler_output") else output.pooler_output


def _module_base() -> type:
    import torch

    return torch.nn.Module


class _ClipImage(_module_base()):  # type: ignore[misc]
    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, pixel_values: Any) -> Any:
        return _normalized(_features(self.clip.get_image_features(pixel_values=pixel_values)))


class _ClipText(_module_base()):  # type: ignore[misc]
    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        return _normalized(_features(self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask)))


class _SentenceText(_module_base()):  # type: ignore[misc]
    def __init__(self, model: Any, inputs: list[str]) -> None:
        super().__init__()
        self.model = model
        self.inputs = inputs

    def forward(self, *tensors: Any) -> Any:
        features = dict(zip(self.inputs, tensors, strict=True))
        return _normalized(self.model(features)["sentence_embedding"])
