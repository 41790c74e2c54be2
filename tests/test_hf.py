"""One answer through every door: `transformers`' pipeline, its Auto classes, `trust_remote_code=True` without
distilser, and distilser's own clip path (checkpoint and ONNX file) give the shipped model's same probabilities
(the ONNX file's with the calibration temperature its metadata records)."""
import json, logging, os, shutil, subprocess, sys

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, Wav2Vec2FeatureExtractor, pipeline

from distilser.core import LABELS, softmax
from distilser.data import REPO_ROOT, ravdess_manifest
from distilser.evaluate import predict_clips
from distilser.export import open_model
from distilser.model import HUB_MODULE, DistilserFeatureExtractor, hub_code, load_model, save_for_transformers
from distilser.preprocessing import load_audio

MODEL = REPO_ROOT/'models'/'cremad-melcnn-v2'
CHECKPOINT = MODEL/'checkpoint'
ATOL = 1e-4  # probabilities of one float32 model by other doors (ONNX Runtime, transformers' pipeline): ~1e-6 apart
P_COLUMNS = [f'p_{l}' for l in LABELS]


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "One torch thread: a 1 MB model on 136 short clips gains nothing from more, and loses much on a busy machine."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def clips(subset_root):
    return ravdess_manifest(subset_root)


@pytest.fixture(scope='module')
def reference(clips) -> np.ndarray:
    "`distilser evaluate`'s per-clip probabilities (`predict_clips`: the clip path, no VAD) with the checkpoint."
    out = predict_clips(open_model(CHECKPOINT), clips, progress=False)
    assert list(out.path) == list(clips.path)
    return out[P_COLUMNS].to_numpy()


def scores(outputs) -> np.ndarray:
    "The pipeline's `[{label, score}]` per clip as `[clips, LABELS]`."
    return np.array([[{d['label']: d['score'] for d in o}[l] for l in LABELS] for o in outputs])


def test_shipped_checkpoint_carries_the_contract():
    saved = json.loads((CHECKPOINT/'preprocessor_config.json').read_text())
    config = json.loads((CHECKPOINT/'config.json').read_text())
    assert saved['feature_extractor_type'] == 'DistilserFeatureExtractor'
    assert saved['preprocessing'] == config['distilser_preprocessing'] and saved['preprocessing']['window_seconds'] == 4
    assert saved['auto_map']['AutoFeatureExtractor'] == f'{HUB_MODULE}.DistilserFeatureExtractor'
    assert config['auto_map']['AutoModelForAudioClassification'] == f'{HUB_MODULE}.MelCnnForSequenceClassification'
    assert (CHECKPOINT/f'{HUB_MODULE}.py').read_text() == hub_code(), \
        f"stale: run distilser.model.save_for_transformers('{CHECKPOINT.relative_to(REPO_ROOT)}')"


def test_onnx_file_agrees(clips, reference):
    "The ONNX file gives the checkpoint's probabilities, with the calibration temperature its metadata records."
    model = open_model(MODEL/'model.onnx')
    onnx = predict_clips(model, clips, progress=False)[P_COLUMNS].to_numpy()
    temperature = getattr(model, 'temperature', 1.0)  # softmax(log p / T) = softmax(logits / T)
    np.testing.assert_allclose(onnx, softmax(np.log(reference), temperature), atol=ATOL)


def test_pipeline_agrees(clips, reference):
    clf = pipeline('audio-classification', model=str(CHECKPOINT))
    assert isinstance(clf.feature_extractor, DistilserFeatureExtractor)
    got = scores(clf([{'raw': load_audio(p), 'sampling_rate': 16_000} for p in clips.path]))
    np.testing.assert_allclose(got, reference, atol=ATOL)


def test_auto_classes_agree(clips, reference):
    fe = AutoFeatureExtractor.from_pretrained(CHECKPOINT)
    model = AutoModelForAudioClassification.from_pretrained(CHECKPOINT).eval()
    with torch.no_grad():
        got = np.concatenate([model(**fe(*sf.read(p, dtype='float32'), return_tensors='pt')).logits.softmax(-1)
                              for p in clips.path])
    np.testing.assert_allclose(got, reference, atol=ATOL)


def test_remote_code_needs_no_distilser(clips, reference, tmp_path):
    """A fresh process, offline, is told to pass `trust_remote_code=True`, then loads the folder with it and never
    imports distilser."""
    paths = [str(p) for p in clips.path[::17]]
    code = f"""import json, sys, soundfile as sf
from transformers import pipeline
try: pipeline('audio-classification', model={str(CHECKPOINT)!r}, trust_remote_code=False); refused = ''
except ValueError as e: refused = str(e)
clf = pipeline('audio-classification', model={str(CHECKPOINT)!r}, trust_remote_code=True)
out = [clf({{'raw': x, 'sampling_rate': sr}}) for x, sr in (sf.read(p, dtype='float32') for p in {paths!r})]
print(json.dumps(dict(out=out, refused=refused, distilser='distilser' in sys.modules)))"""
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_MODULES_CACHE': str(tmp_path/'modules'), 'OMP_NUM_THREADS': '1'}
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert 'trust_remote_code=True' in result['refused'] and result['distilser'] is False
    np.testing.assert_allclose(scores(result['out']), reference[::17], atol=ATOL)


def test_old_checkpoint_loads_says_once_and_is_saved_again(clips, reference, tmp_path, caplog):
    old = tmp_path/'checkpoint'
    shutil.copytree(CHECKPOINT, old, ignore=shutil.ignore_patterns('split', '*.csv', f'{HUB_MODULE}.py'))
    config = json.loads((old/'config.json').read_text())
    del config['auto_map']  # as checkpoints were saved before distilser had its own extractor
    (old/'config.json').write_text(json.dumps(config, indent=2) + '\n')
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=False).save_pretrained(old)
    with caplog.at_level(logging.WARNING, logger='distilser'):
        for _ in range(2): load_model(old)
        got = predict_clips(open_model(old), clips, progress=False)[P_COLUMNS].to_numpy()
    notes = [r.getMessage() for r in caplog.records if 'preprocessor_config.json' in r.getMessage()]
    assert len(notes) == 1 and 'Wav2Vec2FeatureExtractor' in notes[0] and 'save_for_transformers' in notes[0]
    np.testing.assert_allclose(got, reference, atol=1e-6)  # distilser preprocesses from the config: the same kernels
    save_for_transformers(old)
    for name in ('config.json', 'preprocessor_config.json', f'{HUB_MODULE}.py', 'model.safetensors'):
        assert (old/name).read_bytes() == (CHECKPOINT/name).read_bytes(), name
