"distilser.model: sizes, frozen encoder, masked pooling, save/load round trip, and the error when weights are missing."
import warnings

import pytest
import torch
from conftest import run_cli
from distilser.data import ravdess_manifest
from distilser.preprocessing import load_clip
from distilser.model import (OFFLINE_DISTILHUBERT, OFFLINE_TINY, BackboneError, RandomWeightsWarning, count_parameters,
                             is_random_weights, load_model)


@pytest.fixture(scope="module")
def batch(subset_root):
    "One real RAVDESS clip per class, preprocessed, zero-padded to 4 s with their masks (the paper's batches)."
    clips = [load_clip(p, 4.0) for p in ravdess_manifest(subset_root).groupby("label").head(1).path]
    x, mask = torch.zeros(len(clips), 64_000), torch.zeros(len(clips), 64_000, dtype=torch.long)
    for i, c in enumerate(clips): x[i, :len(c)], mask[i, :len(c)] = torch.from_numpy(c), 1
    return dict(input_values=x, attention_mask=mask)


def quiet(backbone, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return load_model(backbone, **kw)


def test_distilhubert_size_and_frozen_encoder():
    model = quiet(OFFLINE_DISTILHUBERT)
    assert count_parameters(model.base_model) == 23_491_968  # the paper's 23.5 M
    assert count_parameters(model.base_model.feature_extractor) == 4_200_448
    assert count_parameters(model, trainable=False) == 4_200_448
    assert all(not p.requires_grad for p in model.base_model.feature_extractor.parameters())
    assert all(p.requires_grad for p in model.base_model.encoder.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert count_parameters(quiet(OFFLINE_TINY, freeze_feature_encoder=False), trainable=False) == 0


def test_random_weights_are_announced_and_recorded():
    with pytest.warns(RandomWeightsWarning, match="random weights"):
        model = load_model(OFFLINE_TINY)
    assert is_random_weights(model) and model.config.distilser_backbone == OFFLINE_TINY
    assert model.config.id2label == {0: "anger", 1: "happiness", 2: "neutral", 3: "sadness"}


def test_head_pools_the_masked_mean_of_real_frames(batch):
    model = quiet(OFFLINE_TINY).eval()
    caught = {}
    model.projector.register_forward_hook(lambda m, i, o: caught.update(frames=o.clone()))
    model.classifier.register_forward_hook(lambda m, i, o: caught.update(pooled=i[0].clone()))
    with torch.no_grad(): model(input_values=batch["input_values"], attention_mask=batch["attention_mask"])
    mask = model._get_feature_vector_attention_mask(caught["frames"].shape[1], batch["attention_mask"]).float()
    assert mask.sum(1).min() < mask.shape[1]  # some clip is padded, so the check means something
    expected = (caught["frames"] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(caught["pooled"], expected)  # float32 defaults (rtol 1.3e-6, atol 1e-5): two sums
    assert (caught["pooled"] - caught["frames"].mean(1)).abs().max() > 1e-4  # an unmasked mean would differ


def test_padding_does_not_change_the_masked_output(batch):
    torch.manual_seed(0)
    model = quiet(OFFLINE_TINY, feat_extract_norm="layer").eval()
    clip = batch["input_values"][0][batch["attention_mask"][0].bool()][None]
    padded = torch.cat([clip, torch.zeros(1, 32_000)], 1)
    mask = torch.cat([torch.ones_like(clip), torch.zeros(1, 32_000)], 1).long()
    with torch.no_grad():
        alone, masked, unmasked = (model(input_values=clip).logits,
                                   model(input_values=padded, attention_mask=mask).logits,
                                   model(input_values=padded).logits)
    torch.testing.assert_close(masked, alone, atol=1e-5, rtol=1e-5)  # float32 convolutions over other lengths
    assert (unmasked - alone).abs().max() > 1e-3


def test_save_and_load_give_identical_logits(tmp_path, batch):
    model = quiet(OFFLINE_TINY).eval()
    model.save_pretrained(tmp_path)
    with pytest.warns(RandomWeightsWarning):
        again = load_model(tmp_path).eval()
    with torch.no_grad():
        a = model(input_values=batch["input_values"], attention_mask=batch["attention_mask"]).logits
        b = again(input_values=batch["input_values"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(a, b)
    assert is_random_weights(again) and again.config.label2id == model.config.label2id


def test_missing_weights_are_one_clear_line(tmp_path):
    with pytest.raises(BackboneError, match="no such model directory"): load_model(tmp_path/"nowhere")
    with pytest.raises(BackboneError, match="no config.json"): load_model(tmp_path)


def test_cli_says_how_to_use_a_local_copy_when_the_hub_is_offline(subset_root, tmp_path):
    r = run_cli("loso", "--ravdess", subset_root, "--out", tmp_path/"run", "--backbone", "distilser/not-a-model",
                env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--backbone DIR" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path/"run"/"fold_1"/"metrics.json").exists()
