"""open_clip towers for every ``open_clip.list_pretrained()`` pair.

- ``openclip-<arch>.<tag>``: the image tower (``visual``) with the tag's own preprocessing; its
  ``embedding`` layer is the projected image embedding.
- ``openclip-text-<arch>.<tag>``: the text tower, for captions and text queries; stimuli need a
  ``caption`` (or ``text``) column; ``embedding`` is the projected text embedding.

A name without a tag builds the first tag open_clip lists. Weights come from open_clip's caches
(the Hugging Face hub, or ``~/.cache/clip`` for URL weights).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from brainbench import hookimpl
from brainbench.device import seeded
from brainbench.extraction.model_tables import card, read_table
from brainbench.extraction.torch_model import TorchModel
from brainbench.extraction.weights import hf_hub_root

TABLE = Path(__file__).parent / "tables" / "open_clip.csv"  # package data, written by tools/build_model_tables.py

PREFIX = "openclip-"


def _towers():
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self, visual: torch.nn.Module):
            super().__init__()
            self.visual, self.embedding = visual, torch.nn.Identity()

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.embedding(self.visual(images))

    class TextTower(torch.nn.Module):
        def __init__(self, clip: torch.nn.Module):
            super().__init__()
            clip.visual = torch.nn.Identity()  # encode_text never uses it; do not hold its weights
            self.clip, self.embedding = clip, torch.nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 2, context): token ids, real-token mask
            return self.embedding(self.clip.encode_text(x[:, 0]))

    return ImageTower, TextTower


def build(arch: str, tag: str, tower: str, weights: str | None = None, seed: int = 0) -> TorchModel:
    from brainbench.extraction.torchvision_compat import import_torchvision

    from brainbench.extraction.weights import hub_weights, resolve_weights

    import_torchvision()
    import open_clip

    name = f"{PREFIX}{'text-' if tower == 'text' else ''}{arch}.{tag}"
    weights = resolve_weights(name, weights, [tag, "random"])
    row = _row(arch, tag, tower)
    if weights == "random":
        with seeded(seed), _quiet_random_init():
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    else:
        model, _, preprocess = hub_weights(name, row["hub"], lambda: open_clip.create_model_and_transforms(
            arch, pretrained=tag, cache_dir=str(hf_hub_root())))
    image_tower, text_tower = _towers()
    if tower == "text":
        return TorchModel(text_tower(model), Tokenize(arch, open_clip.get_tokenizer(arch)), _card(row, arch, tag, tower),
                          weights=weights, seed=seed, modality="text", prefix_tokens=0, token_mask=lambda x: x[:, 1] > 0)
    prefix = int(row["prefix_tokens"]) if row["prefix_tokens"] else None
    return TorchModel(image_tower(model.visual), preprocess, _card(row, arch, tag, tower), weights=weights, seed=seed,
                      prefix_tokens=prefix)


@contextmanager
def _quiet_random_init() -> Iterator[None]:
    """Drop open_clip's warning that no pretrained weights were loaded: with ``--weights random`` that is the point."""
    import logging

    class Quiet(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not record.getMessage().startswith("No pretrained weights loaded")

    quiet, root = Quiet(), logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


class Tokenize:
    """Caption -> (2, context) int64: open_clip's token ids and a mask of the real tokens (start of text up to
    end of text), so that ``--tokens mean`` leaves the padding out."""

    def __init__(self, arch: str, tokenizer):
        self.arch, self.tokenizer = arch, tokenizer

    def __call__(self, text: str):
        import torch

        ids = self.tokenizer([text])[0]
        eot = getattr(self.tokenizer, "eot_token_id", None)
        if eot is not None:  # CLIP's tokenizer pads with 0, the id of a real token, so read the end of text
            is_eot = (ids == eot).int()
            mask = (torch.cumsum(is_eot, 0) - is_eot) == 0
        else:
            pad = getattr(getattr(self.tokenizer, "tokenizer", None), "pad_token_id", None)
            mask = ids != pad if pad is not None else torch.ones_like(ids, dtype=torch.bool)
        return torch.stack([ids, mask.to(ids.dtype)])

    def __repr__(self) -> str:  # stable across processes: it enters the activation cache key
        return f"open_clip.get_tokenizer({self.arch!r})"


def _row(arch: str, tag: str, tower: str) -> dict[str, str]:
    table_name = f"text-{arch}" if tower == "text" else arch
    return next(r for r in read_table(TABLE) if r["name"] == table_name and r["weights"] == tag.lower())


def _card(row: dict[str, str], arch: str, tag: str, tower: str):
    name = f"{PREFIX}{'text-' if tower == 'text' else ''}{arch}.{tag}"
    return card(row, name=name, source="open_clip", weights=[tag, "random"],
                description=f"open_clip {arch} {tower} tower, trained on {tag}",
                url="https://github.com/mlfoundations/open_clip")


@hookimpl
def register_models(register):
    for row in read_table(TABLE):
        tower = "text" if row["name"].startswith("text-") else "image"
        arch = row["name"].removeprefix("text-")
        register(_card(row, arch, row["weights"], tower), partial(build, arch, row["weights"], tower))
