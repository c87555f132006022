"""`MMINDEX_MODELS__*`: which models run each space, on what, and how fast.

The backend and precision choices are here, beside the settings that name them, so that the settings object does
not import the model code (which imports numpy, Pillow and, lazily, torch).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from shared.setting_group import Group


class Backend(StrEnum):
    """What runs a space's model."""

    TORCH = "torch"  # sentence-transformers on PyTorch
    ONNX = "onnx"  # an ONNX export on ONNX Runtime (CPU; CUDA and TensorRT when present)
    OPENVINO = "openvino"  # an ONNX export compiled by OpenVINO (Intel and AMD CPUs)


class Precision(StrEnum):
    """The numbers a model computes in. `auto`: int8 for an exported model on a CPU, fp16 on a GPU, and fp32 for
    torch on a CPU."""

    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"


def default_export_dir() -> Path:
    """Where exported models are kept unless MMINDEX_MODELS__EXPORT_DIR says: the user's cache."""
    import os

    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mmindex" / "exports"


class ModelSettings(Group):
    vision: str = Field("clip-ViT-B-32", description="Model name or local path for the vision space")
    text: str = Field("all-MiniLM-L6-v2", description="Model name or local path for the text space")
    asr: str = Field("tiny.en", description="Speech-to-text model name or local path, or `none`")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N")
    threads: int = Field(0, ge=0, description="torch CPU threads per process; 0 = cores / worker processes")
    batch_size: int = Field(32, gt=0, description="Items per model call")
    gather_items: int = Field(
        256, ge=1, description="Items the embed pool's tasks, running side by side, merge into one model call; 1 = none"
    )
    backend: Backend = Field(Backend.TORCH, description="torch, onnx or openvino: what runs the vision and text models")
    vision_backend: Backend | None = Field(None, description="The vision space's backend, if not `backend`")
    text_backend: Backend | None = Field(None, description="The text space's backend, if not `backend`")
    precision: Precision = Field(
        Precision.AUTO, description="auto, fp32, fp16, bf16 or int8 (auto: int8 exported on CPU, fp16 on GPU)"
    )
    backend_fallback: bool = Field(
        False, description="A backend that cannot load falls back to torch (with a warning) instead of failing"
    )
    export_dir: Path = Field(
        default_factory=default_export_dir, description="Where exported models are kept (default ~/.cache/mmindex)"
    )
    asr_batch_after_s: float = Field(
        120.0, ge=0, description="Speech longer than this is transcribed in parallel batches; 0 = never"
    )
    rerank: str = Field(
        "cross-encoder/ms-marco-MiniLM-L6-v2",
        description="Cross-encoder rescoring a search's best text-bearing hits (name or local path), or `none`",
    )
    preload: bool = Field(
        True, description="embed and query workers load (and download) their models at start, not on the first task"
    )
    ocr: Literal["rapidocr", "none"] = Field("rapidocr", description="Reads the words in pictures, or `none`")
    ocr_max_side: int = Field(1600, ge=320, description="Longer side a picture is read at, at most, by OCR")
    ocr_timeout_s: float = Field(30.0, gt=0, description="Reading one picture's words taking longer fails only them")

    def backend_for(self, space: str) -> Backend:
        """The backend that runs `space` ("vision" or "text"): its own setting, else `backend`."""
        own = self.vision_backend if space == "vision" else self.text_backend
        return own or self.backend

    @model_validator(mode="after")
    def _precision_fits(self) -> ModelSettings:
        exported = {self.backend_for("vision"), self.backend_for("text")} - {Backend.TORCH}
        if self.precision is Precision.INT8 and not exported:
            raise ValueError("MMINDEX_MODELS__PRECISION=int8 needs MMINDEX_MODELS__BACKEND=onnx or openvino")
        return self
