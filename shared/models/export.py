"""Exported models: a sentence-transformers model's towers as ONNX graphs, quantized, cached, and checked.

An export is made once per machine, on first use or by `mmindex models export`, into
`MMINDEX_MODELS__EXPORT_DIR/<model>-<fingerprint>/`: the fp32 graphs of the model's towers (`image.onnx`,
`text.onnx`; pooling and normalisation inside, output `sentence_embedding`), the tokenizer and image processor the
graphs need, and a folder per derived format (`onnx-int8/`, `onnx-fp16/`, `openvino-bf16/`, ...). The fingerprint
covers the model's files, this module's export version, the opset and the libraries' versions, so a changed model
or library makes a new export instead of reusing a stale one. Every folder is written beside its place and renamed
into it under a file lock, with a manifest that records the parity probe: the export's vectors against torch's on
fixed texts and pictures. An export that misses parity (`PARITY_MEAN`, `PARITY_WORST`) is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ModelUnavailable, one_line
from shared.models import Vectors, is_local, sentence_repos
from shared.models.probe import probe_images, probe_texts

log = logging.getLogger(__name__)

EXPORT_VERSION = "3"
"""Bump when the export code changes what it writes: every cached export is made again."""
OPSET = 17
PARITY_MEAN = 0.99
"""An export's vectors must have at least this cosine to torch fp32's on average over the probe..."""
PARITY_WORST = 0.97
"""...and at least this for every probe item."""
STRICT = {"mean": 0.995, "worst": 0.985}
"""An int8 tower whose probe is below this is quantized again with the projections after its feed-forward
activations left in fp32: slower, closer. The probe's short texts flatter int8, so its bar is above the
parity a search needs."""
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Export:
    """A model's export folder and one format in it: where its graphs and preprocessing files are."""

    root: Path  # <export_dir>/<model>-<fingerprint>
    format: str  # "onnx-fp32", "onnx-int8", "onnx-fp16", "openvino-fp32", "openvino-bf16" or "openvino-int8"

    @property
    def folder(self) -> Path:
        return self.root / self.format

    def graph(self, tower: str) -> Path:
        """The file of a tower ("image" or "text") in this format (OpenVINO's IR: .xml beside its .bin)."""
        return self.folder / (f"{tower}.xml" if self.format.startswith("openvino") else f"{tower}.onnx")

    def manifest(self) -> dict[str, Any]:
        """What the export recorded about itself: the model, its towers, dimension, parity."""
        data: dict[str, Any] = json.loads((self.folder / MANIFEST).read_text())
        return data

    @property
    def preprocess(self) -> Path:
        """The tokenizer and image processor, saved by transformers."""
        return self.root / "preprocess"


def _files_of(name: str) -> Path | None:
    """The folder that holds a model's files: a local path, or its snapshot in the hub cache (None if neither)."""
    if is_local(name):
        return Path(name).expanduser().resolve()
    from huggingface_hub import snapshot_download

    for repo in sentence_repos(name):
        try:
            return Path(snapshot_download(repo, local_files_only=True))
        except Exception:  # not cached under this repo name
            continue
    return None


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "openvino", "nncf"):
        try:
            found.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            continue
    return ",".join(found)


def fingerprint(name: str) -> str:
    """A digest of the model's files (names, sizes, times), the export code's version, the opset and the libraries'
    versions."""
    digest = hashlib.sha256(f"{EXPORT_VERSION}|{OPSET}|{_library_versions()}|{sys.version_info[:2]}".encode())
    folder = _files_of(name)
    if folder is None:
        digest.update(name.encode())
    else:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".cache" not in path.parts:
                stat = path.stat()
                digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def export_root(name: str, export_dir: Path) -> Path:
    """The folder a model's exports go to: its name made safe, then its fingerprint."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name if is_local(name) else name).strip("-") or "model"
    return export_dir / f"{slug[:60]}-{fingerprint(name)}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (made if missing): one process exports a model at a time, the others wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace(staging: Path, target: Path) -> None:
    """Put a finished folder in its place (an old, refused one is moved aside first)."""
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


Runner = Callable[[Export, str, list[Any]], Vectors]
"""Runs one tower of an export on probe inputs (texts, or pictures): how the caller's backend encodes."""


def ensure(name: str, export_dir: Path, format: str, *, setting: str, runner: Runner) -> Export:
    """The model's export in `format`, made now if it is not cached (with a progress line), its parity checked by
    `runner` (the backend that will use it); ModelUnavailable in one line naming `setting` if it cannot be made."""
    root = export_root(name, export_dir)
    export = Export(root, format)
    if (export.folder / MANIFEST).is_file():
        return export
    with _locked(root.with_name(root.name + ".lock")):
        if (export.folder / MANIFEST).is_file():  # another process made it while this one waited
            return export
        started = time.monotonic()
        print(f"mmindex: exporting {name} as {format} (once per machine) ...", file=sys.stderr, flush=True)
        try:
            base = _ensure_fp32(name, root)
            kept: set[str] = set()
            if format != "onnx-fp32":
                _derive(base, export, root, kept)
            figures = _parity(export, runner)
            if format.endswith("int8"):
                kept = {tower for tower, found in figures.items() if not _within(found, STRICT)}
                if kept:  # those towers again, the projections after their activations left in fp32
                    _derive(base, export, root, kept)
                    figures = _parity(export, runner)
            _accept(export, figures, kept, setting)
        except ModelUnavailable:
            raise
        except Exception as error:
            raise ModelUnavailable(
                f"model {name!r} cannot be exported as {format} ({one_line(error)[:200]}); set {setting}=torch"
            ) from error
        print(f"mmindex: exported {name} as {format} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return export


def _ensure_fp32(name: str, root: Path) -> Export:
    """The fp32 ONNX graphs and the preprocessing files, exported from torch if missing."""
    base = Export(root, "onnx-fp32")
    if (base.folder / "reference.npz").is_file():
        return base
    from shared.models.export_torch import export_towers

    staging = root / ".staging-onnx-fp32"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    export_towers(name, staging, root / "preprocess", OPSET)
    _replace(staging, base.folder)
    return base


def _derive(base: Export, export: Export, root: Path, kept: set[str]) -> None:
    """A quantized or half-precision format made from the fp32 graphs; the `kept` towers' projections after
    feed-forward activations stay fp32."""
    staging = root / f".staging-{export.format}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for tower in tower_info(base)["towers"]:
        source, target = base.graph(tower), staging / export.graph(tower).name
        if export.format == "onnx-int8":
            _quantize_dynamic(source, target, staging, keep_fp32=tower in kept)
        elif export.format == "onnx-fp16":
            _half(source, target)
        elif export.format == "openvino-int8":
            _quantize_static(source, target, base, tower, keep_fp32=tower in kept)
        elif export.format in {"openvino-fp32", "openvino-bf16"}:  # the same graph; the precision is a run hint
            _convert(source, target)
        else:
            raise ValueError(f"unknown export format {export.format}")
    shutil.copy(base.folder / "towers.json", staging / "towers.json")
    _replace(staging, export.folder)


def tower_info(export: Export) -> dict[str, Any]:
    """The fp32 export's record: towers, dimension, maximum text length, the torch weights' fingerprint."""
    info: dict[str, Any] = json.loads((export.root / "onnx-fp32" / "towers.json").read_text())
    return info


def _quantize_dynamic(source: Path, target: Path, scratch: Path, *, keep_fp32: bool) -> None:
    """int8 weights, activations quantized per batch, per channel, for MatMul, Gemm and Gather (the embeddings).
    Per-tensor weights lose too much (cosine 0.95 on MiniLM), and QUInt8 weights gain no speed on VNNI CPUs. With
    `keep_fp32`, the projection after each feed-forward activation stays fp32: its inputs have outliers that int8
    cannot hold (on MiniLM the top-10 overlap of the evaluation set's searches goes from 0.89 to 0.92, and most of
    int8's speed is lost)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = scratch / f"{source.stem}.pre.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(
        str(prepared),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        nodes_to_exclude=after_activations(onnx.load(str(prepared))) if keep_fp32 else [],
    )
    prepared.unlink()


ACTIVATIONS = {"Erf", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Sigmoid", "Tanh", "Relu"}


def after_activations(model: Any) -> list[str]:
    """The MatMul and Gemm nodes fed by a feed-forward activation (GELU, quick GELU, ReLU), within the few
    elementwise steps that make one up."""
    producer = {output: node for node in model.graph.node for output in node.output}

    def activated(name: str, steps: int) -> bool:
        node = producer.get(name)
        if node is None or steps == 0:
            return False
        if node.op_type in ACTIVATIONS:
            return True
        if node.op_type not in {"Mul", "Add", "Div", "Cast"}:
            return False
        return any(activated(input, steps - 1) for input in node.input)

    return [
        node.name
        for node in model.graph.node
        if node.op_type in {"MatMul", "Gemm"} and node.input and activated(node.input[0], 4)
    ]


def _half(source: Path, target: Path) -> None:
    """fp16 weights and compute for a GPU, with fp32 inputs and outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))


def _convert(source: Path, target: Path) -> None:
    """The fp32 graph in OpenVINO's own form (read faster than ONNX at every start)."""
    import openvino as ov

    ov.save_model(ov.convert_model(str(source)), str(target), compress_to_fp16=False)


def _quantize_static(source: Path, target: Path, base: Export, tower: str, *, keep_fp32: bool) -> None:
    """OpenVINO int8: weights and activations, calibrated by NNCF on the probe's pictures, or its texts alone and
    run together into long ones; with `keep_fp32`, the projections after feed-forward activations left as they
    are (see `_quantize_dynamic`). NNCF's progress bars
    go to stderr, so that a command's JSON on stdout stays whole."""
    try:
        import nncf
        import openvino as ov
    except ImportError as error:
        raise ModelUnavailable(
            f"int8 on openvino needs the nncf package ({error.name} is missing): pip install 'mmindex[openvino]'"
        ) from None
    import onnx

    from shared.models.preprocess import Preprocessor

    preprocess = Preprocessor.load(base.preprocess, tower_info(base))
    samples: list[Any] = probe_images()
    if tower == "text":  # short texts and long ones: activations differ with length
        short = probe_texts()
        mixed = np.random.default_rng(18)
        samples = short + [" ".join(mixed.permutation(short)[: mixed.integers(4, 20)]) for _ in range(40)]
    feeds = [preprocess.feeds(tower, [sample]) for sample in samples]
    model = ov.Core().read_model(str(source))
    # Feeds are keyed by each port's first name, which may be an internal one: look ports up by all their names.
    names = {alias: port.get_any_name() for port in model.inputs for alias in port.get_names()}

    def transform(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {names[key]: value for key, value in feed.items() if key in names}

    nncf.set_log_level(logging.WARNING)  # its INFO lines go to stdout
    with redirect_stdout(sys.stderr):
        quantized = nncf.quantize(
            model,
            nncf.Dataset(feeds, transform),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(feeds),
            ignored_scope=nncf.IgnoredScope(
                names=after_activations(onnx.load(str(source))) if keep_fp32 else [], validate=False
            ),
        )
    ov.save_model(quantized, str(target))


def _parity(export: Export, runner: Runner) -> dict[str, dict[str, float]]:
    """Each tower's cosine to torch fp32 (recorded at export) on the probe, run as the export's backend runs it."""
    reference = np.load(export.root / "onnx-fp32" / "reference.npz")
    figures: dict[str, dict[str, float]] = {}
    for tower in tower_info(export)["towers"]:
        inputs: list[Any] = probe_texts() if tower == "text" else probe_images()
        cosine = np.sum(runner(export, tower, inputs) * reference[tower], axis=1)
        figures[tower] = {"mean": round(float(cosine.mean()), 5), "worst": round(float(cosine.min()), 5)}
    return figures


def _within(figures: dict[str, float], bar: dict[str, float]) -> bool:
    return figures["mean"] >= bar["mean"] and figures["worst"] >= bar["worst"]


def _accept(export: Export, figures: dict[str, dict[str, float]], kept: set[str], setting: str) -> None:
    """Write the manifest of an export within parity; refuse (and remove) one that is not."""
    info = tower_info(export)
    missed = {t: f for t, f in figures.items() if not _within(f, {"mean": PARITY_MEAN, "worst": PARITY_WORST})}
    if missed:
        shutil.rmtree(export.folder, ignore_errors=True)
        said = ", ".join(f"{t} cosine {f['mean']} mean, {f['worst']} worst" for t, f in missed.items())
        raise ModelUnavailable(
            f"the {export.format} export of {info['model']!r} misses parity with torch ({said}; needs {PARITY_MEAN}"
            f" mean, {PARITY_WORST} worst); set MMINDEX_MODELS__PRECISION=fp32 or {setting}=torch"
        )
    manifest = {
        **info,
        "format": export.format,
        "parity": figures,
        "fp32_after_activations": sorted(kept),
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (export.folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
