"""Encoders that run exported models: ONNX Runtime (CPU, CUDA, TensorRT) and OpenVINO (CPUs).

Both run the graphs `shared.models.export` makes and caches, fed by the model's own tokenizer and image processor
(`shared.models.preprocess`); they differ only in the session that runs a graph. Loading one needs no torch: the
export, when cached, is a folder of graphs and preprocessing files. A backend that cannot load (its package
missing, an export that cannot be made or read, a precision the device cannot run) is ModelUnavailable in one line
naming the setting to change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

import numpy as np
from PIL import Image

from shared.documents import Modality
from shared.errors import ModelUnavailable, one_line
from shared.models import Backend, Precision, Vectors
from shared.models.export import MANIFEST, Export, ensure, tower_info
from shared.models.preprocess import Preprocessor

log = logging.getLogger(__name__)
BACKEND_SETTING = "MMINDEX_MODELS__BACKEND"
PRECISION_SETTING = "MMINDEX_MODELS__PRECISION"


class Session(Protocol):
    """One tower's graph, loaded by a backend: input arrays by name in, one L2-normalized row per item out."""

    def run(self, feeds: dict[str, np.ndarray]) -> Vectors: ...


def _rows(vectors: Any, feeds: dict[str, np.ndarray]) -> Vectors:
    """The output as float32 rows, one per item fed (a backend that ran on a missing input gives none)."""
    rows = np.asarray(vectors, dtype=np.float32)
    expected = next(iter(feeds.values())).shape[0]
    if rows.ndim != 2 or rows.shape[0] != expected:
        raise ModelUnavailable(f"an exported model gave {rows.shape} for {expected} items; export it again")
    return rows


class OnnxRuntimeSession:
    """A graph on ONNX Runtime: TensorRT, then CUDA, on a GPU; the CPU with `threads` threads otherwise."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            available = ort.get_available_providers()
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
            if "TensorrtExecutionProvider" in available:
                providers.insert(0, ("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": True}))
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.inputs = {item.name for item in self.session.get_inputs()}

    def run(self, feeds: dict[str, np.ndarray]) -> Vectors:
        given = {name: value for name, value in feeds.items() if name in self.inputs}
        return _rows(self.session.run(None, given)[0], feeds)


class OpenVinoSession:
    """A graph compiled by OpenVINO for the CPU, with `threads` threads and one stream, in fp32 or bf16."""

    def __init__(self, path: Path, threads: int, precision: str) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(path))
        hint = "bf16" if precision == "bf16" else "f32"  # int8 graphs keep their int8 parts either way
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": hint}
        self.compiled = core.compile_model(model, "CPU", config)
        # An input's first name can be an internal one: map every name a port answers to, and feed each port.
        self.ports = {name: port for port in self.compiled.inputs for name in port.get_names()}
        self.lock = Lock()  # one infer request, used by one thread at a time
        self.request = self.compiled.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray]) -> Vectors:
        given = {self.ports[name]: value for name, value in feeds.items() if name in self.ports}
        if len(given) != len(self.compiled.inputs):
            raise ModelUnavailable("an exported model's inputs do not match its preprocessing; export it again")
        with self.lock:
            result = self.request.infer(given)
            return _rows(next(iter(result.values())).copy(), feeds)


def onnx_device(device: str) -> str:
    """Where ONNX Runtime runs: `auto` is CUDA when its provider is installed and a GPU answers, else the CPU."""
    import onnxruntime as ort

    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "auto":
        return "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise ModelUnavailable(
            f"MMINDEX_MODELS__DEVICE={device} but ONNX Runtime has no CUDA provider (install onnxruntime-gpu)"
        )
    return device


def openvino_auto() -> Precision:
    """OpenVINO's precision when none is set: bf16 on a CPU that computes it natively (as fast as int8 there, and
    as close to fp32 as makes no difference), else int8."""
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return Precision.BF16 if "BF16" in capabilities else Precision.INT8


def export_format(backend: Backend, precision: Precision, device: str) -> str:
    """The export a backend runs for a precision on a device; ModelUnavailable for pairs that cannot run."""
    gpu = device.startswith("cuda")
    chosen: Precision
    if backend is Backend.ONNX:
        chosen = precision if precision is not Precision.AUTO else (Precision.FP16 if gpu else Precision.INT8)
        runs = {Precision.FP32, Precision.FP16} if gpu else {Precision.FP32, Precision.INT8}
    else:
        chosen = precision if precision is not Precision.AUTO else openvino_auto()
        runs = {Precision.FP32, Precision.BF16, Precision.INT8}
    if chosen not in runs:
        raise ModelUnavailable(
            f"{PRECISION_SETTING}={chosen.value} does not run on {backend.value} on the {'GPU' if gpu else 'CPU'}"
            f" (it runs {', '.join(sorted(p.value for p in runs))})"
        )
    return f"{backend.value}-{chosen.value}"


def _importable(backend: Backend) -> None:
    """The backend's package is installed, or one line that says how to install it."""
    package, extra = ("onnxruntime", "onnx") if backend is Backend.ONNX else ("openvino", "openvino")
    try:
        __import__(package)
    except ImportError:
        raise ModelUnavailable(
            f"{BACKEND_SETTING}={backend.value} needs the {package} package: pip install 'mmindex[{extra}]',"
            f" or set {BACKEND_SETTING}=torch"
        ) from None


class ExportedEncoder:
    """A model's exported towers on one backend: CLIP models encode images and texts, text models texts."""

    def __init__(
        self, backend: Backend, export: Export, *, device: str, threads: int, batch_size: int, name: str
    ) -> None:
        self.backend = backend
        self.export = export
        self.device = device
        self.model_id = name
        self._threads = threads
        self._batch_size = batch_size
        self._lock = Lock()  # fast tokenizers are not safe to call from several threads at once
        info = tower_info(export)
        self.dimension = int(info["dimension"])
        self.weights: str | None = info.get("weights")  # the torch weights' fingerprint, for generations
        self.modalities = frozenset(Modality(tower) for tower in info["towers"])
        self.preprocessor = Preprocessor.load(export.preprocess, info)
        self.sessions: dict[str, Session] = {}
        for tower in info["towers"]:
            path = export.graph(tower)
            try:
                self.sessions[tower] = self.open(path)
            except Exception as error:
                raise ModelUnavailable(
                    f"the exported model {path} cannot be loaded ({one_line(error)[:160]}); delete"
                    f" {export.root} to export it again, or set {BACKEND_SETTING}=torch"
                ) from error
        self.model = self.sessions  # what runs the model, as the Encoder protocol names it

    def open(self, path: Path) -> Session:
        """A session of this encoder's backend for one graph."""
        if self.backend is Backend.ONNX:
            return OnnxRuntimeSession(path, self.device, self._threads)
        return OpenVinoSession(path, self._threads, self.export.format.rpartition("-")[2])

    @classmethod
    def load(
        cls,
        name: str,
        *,
        setting: str,
        device: str,
        threads: int,
        batch_size: int,
        backend: Backend = Backend.ONNX,
        precision: Precision = Precision.AUTO,
        export_dir: Path | None = None,
    ) -> ExportedEncoder:
        """`name`'s export for `backend` and `precision`, made first if this machine has none."""
        from shared.model_settings import default_export_dir

        _importable(backend)
        if backend is Backend.OPENVINO:
            if device.startswith("cuda"):
                raise ModelUnavailable(
                    f"{BACKEND_SETTING}=openvino runs on the CPU; set MMINDEX_MODELS__DEVICE=cpu, or use onnx"
                )
            resolved = "cpu"
        else:
            resolved = onnx_device(device)
        format = export_format(backend, precision, resolved)

        def runner(export: Export, tower: str, inputs: list[Any]) -> Vectors:
            return cls(backend, export, device=resolved, threads=threads, batch_size=batch_size, name=name)._encode(
                tower, inputs
            )

        export = ensure(name, export_dir or default_export_dir(), format, setting=setting, runner=runner)
        try:
            encoder = cls(backend, export, device=resolved, threads=threads, batch_size=batch_size, name=name)
        except ModelUnavailable:
            raise
        except Exception as error:  # a file of the export missing or unreadable
            raise ModelUnavailable(
                f"the exported model in {export.root} cannot be loaded ({one_line(error)[:160]}); delete it to"
                f" export it again, or set {BACKEND_SETTING}=torch"
            ) from error
        log.info("loaded %s as %s on %s (%d threads)", name, format, resolved, threads)
        return encoder

    @classmethod
    def load_openvino(cls, name: str, **options: Any) -> ExportedEncoder:
        """`load` on OpenVINO (the registry's entry for the openvino backend)."""
        return cls.load(name, **{**options, "backend": Backend.OPENVINO})

    def parity(self) -> dict[str, Any]:
        """The parity probe's figures recorded when this export was made (cosine to torch fp32 per tower)."""
        import json

        parity: dict[str, Any] = json.loads((self.export.folder / MANIFEST).read_text())["parity"]
        return parity

    def _encode(self, tower: str, items: Sequence[Any]) -> Vectors:
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session = self.sessions[tower]
        parts = []
        for start in range(0, len(items), self._batch_size):
            with self._lock:
                feeds = self.preprocessor.feeds(tower, items[start : start + self._batch_size])
            parts.append(session.run(feeds))
        return np.concatenate(parts)

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        if Modality.IMAGE not in self.modalities:
            raise ModelUnavailable(
                f"model {self.model_id!r} cannot encode images; use a CLIP model for the vision space"
            )
        return self._encode("image", images)

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        return self._encode("text", texts)
