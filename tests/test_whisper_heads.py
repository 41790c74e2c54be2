"""Chapter 05b on real clips: the cache keeps what the encoder gives (to float16), each scenario standardises as it
says, and the ONNX file of encoder + head gives torch's logits on clips of other lengths than the one traced."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from distilser.data import load_corpora, sample_cremad_root
from distilser.export import OPSET, ort_session, read_metadata
from distilser.whisper import WHISPER_WEIGHTS, load_whisper_clip, load_whisper_encoder, log_mel
from distilser.whisper_heads import (SCENARIOS, VARIANCE_FLOOR, WHISPER_OPSET, HeadRecipe, WhisperClassifier, WhisperLogMel,
                                     cache_corpus, cache_file, export_whisper_onnx, head_logits, load_cached,
                                     standardise, train_head, whisper_metadata)


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    "Statistics of 32 real CREMA-D clips (4 actors, 2 a class each), cached as bench/whisper_features.py does."
    crema = load_corpora({'cremad': sample_cremad_root()}).groupby(['speaker', 'label']).head(2).reset_index(drop=True)
    encoder = load_whisper_encoder('whisper-base')
    f = cache_corpus(crema, cache_file('cremad', cache=tmp_path_factory.mktemp('cache')), encoder=encoder, progress=False)
    rows, stats, meta = load_cached(f, 'whisper-base', 4.0)
    return dict(encoder=encoder, rows=rows, stats=stats, meta=meta, crema=crema)


def test_the_cache_records_its_contract_and_every_clip(cached):
    rows, meta = cached['rows'], cached['meta']
    assert len(rows) == 32 and rows.path.tolist() == cached['crema'].path.tolist()
    assert meta['weights']['model_bin_sha256'] == WHISPER_WEIGHTS['whisper-base'].sha256
    assert meta['contract']['pre_emphasis'] == 0.0 and meta['contract']['window_seconds'] == 4.0
    assert (rows.frames <= 200).all() and rows.frames.min() > 20  # a clip's own frames: 320 samples each


def test_speaker_profiles_leave_the_scored_clip_out(cached):
    rows, stats = cached['rows'], cached['stats']
    loo = standardise(stats, rows, 'speaker', leave_one_out=True)
    mine = (rows.speaker == rows.speaker[0]).to_numpy()
    others = stats[mine][1:].astype(np.float64)
    expected = (stats[0] - others.mean(0)) / np.sqrt(others.var(0) + VARIANCE_FLOOR)
    np.testing.assert_allclose(loo[0], expected, rtol=1e-4, atol=1e-4)  # float64 sums stored as float32
    folder = standardise(stats, rows, 'folder')
    np.testing.assert_allclose(folder.mean(0), 0, atol=1e-4)
    assert set(SCENARIOS) == {'clip', 'folder', 'speaker'}


def test_onnx_file_gives_torchs_logits(cached, tmp_path):
    rows, stats = cached['rows'], cached['stats']
    held = rows.speaker.isin(sorted(rows.speaker.unique())[:1]).to_numpy()
    head, record = train_head(stats[~held], rows[~held], stats[held], rows[held], HeadRecipe(epochs=3, patience=3))
    model = WhisperClassifier(cached['encoder'], head)
    f = export_whisper_onnx(model, tmp_path/'m.onnx', whisper_metadata(cached['encoder'], record, 'a test: 24 clips'))
    session = ort_session(f)
    clips = [load_whisper_clip(p) for p in rows.path[:3]]
    for c in [*clips, clips[0][:9_000], np.concatenate([clips[1], clips[2]])]:  # traced at 2 s: other lengths
        with torch.no_grad(): expected = model(torch.from_numpy(c)[None]).numpy()
        got = session.run(None, {'input_values': c[None].astype(np.float32)})[0]
        # float32 in another order: ~1e-4 relative per encoder frame (chapter 02a), through a linear head
        np.testing.assert_allclose(got, expected, atol=1e-3 * max(1.0, np.abs(expected).max()))
    meta = read_metadata(f)
    assert json.loads(meta['weights'])['model_bin_sha256'] == WHISPER_WEIGHTS['whisper-base'].sha256
    assert json.loads(meta['preprocessing'])['scenario'] == 'clip' and meta['window_seconds'] == '4.0'


def test_onnx_log_mel_is_whispers(cached):
    clips = [load_whisper_clip(p) for p in cached['rows'].path[:4]]
    ours = WhisperLogMel()(torch.from_numpy(np.stack([np.pad(c, (0, 64_000 - len(c))) for c in clips]))).numpy()
    diff = np.abs(ours - log_mel(clips))
    assert diff.mean() < 1e-5 and np.quantile(diff, 0.999) < 1e-3  # float32 DFT sums in another order


def test_the_opset_is_chapter_07s():
    assert WHISPER_OPSET == OPSET  # chapter 05b cannot import chapter 07; the number must still be one
