"ONNX export of a small offline model: metadata, dynamic shapes, parity with PyTorch on real clips, bad model files."
import json

import numpy as np
import onnx
import pytest

from distilser.data import LABELS, ravdess_manifest
from distilser.export import (ModelFileError, OnnxClassifier, calibration_windows, export_fp32, parity,
                              quantize_int8, read_metadata, torch_logits)
from distilser.model import OFFLINE_TINY
from distilser.preprocessing import PREPROCESSING
from conftest import run_cli


@pytest.fixture(scope='module')
def real_windows(subset_root):
    "Real RAVDESS clips, preprocessed and fixed to 8 s, drawn differently from the calibration windows."
    return calibration_windows(ravdess_manifest(subset_root), n=12, seed=5)


@pytest.mark.parametrize('which', ['fp32', 'int8'])
def test_metadata(tiny, which):
    meta = read_metadata(tiny[which])
    assert json.loads(meta['distilser_labels']) == LABELS
    assert (meta['sample_rate'], meta['window_seconds']) == ('16000', '8.0')
    assert json.loads(meta['preprocessing']) == PREPROCESSING
    assert (meta['backbone'], meta['training_data'], meta['random_weights']) == (OFFLINE_TINY, 'nothing: random weights', 'true')
    clf = OnnxClassifier(tiny[which], num_threads=1)
    assert clf.labels == LABELS and clf.sample_rate == 16000 and clf.window_seconds == 8.0
    assert clf.preprocessing == PREPROCESSING and clf.is_random_weights


def test_int8_is_quantised_and_smaller(tiny):
    graph = onnx.load(str(tiny['int8'])).graph
    assert {'DequantizeLinear', 'DynamicQuantizeLinear', 'MatMulInteger'} <= {n.op_type for n in graph.node}
    assert sum(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer) >= 6  # the six encoder convolutions at least
    assert tiny['int8'].stat().st_size < 0.8 * tiny['fp32'].stat().st_size
    recipe = json.loads(read_metadata(tiny['int8'])['quantization'])
    assert (recipe['conv'], recipe['matmul']) == ('weights', 'dynamic')


def test_static_recipe_is_calibrated(tiny, real_windows, tmp_path):
    path = quantize_int8(tiny['fp32'], tmp_path/'static.onnx', calibration_windows(n=4), conv='static')
    assert 'QuantizeLinear' in {n.op_type for n in onnx.load(str(path)).graph.node}
    assert json.loads(read_metadata(path)['quantization'])['calibration_windows'] == 4
    assert OnnxClassifier(path).predict_proba(real_windows[:2]).shape == (2, len(LABELS))


@pytest.mark.parametrize('which', ['fp32', 'int8'])
def test_dynamic_batch_and_length(tiny, real_windows, which):
    clf = OnnxClassifier(tiny[which])
    for batch, samples in [(1, 128_000), (3, 24_000), (5, 50_000)]:
        p = clf.predict_proba(real_windows[:batch, :samples])
        assert p.shape == (batch, len(LABELS))
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    # a single waveform is a batch of one; fp32 gives each row what it gives alone, int8 nearly (dynamic quantisation
    # measures one activation range per call, shared by the batch)
    alone, in_batch = clf.predict_proba(real_windows[2]), clf.predict_proba(real_windows[:3])[2:3]
    np.testing.assert_allclose(alone, in_batch, atol=1e-5 if which == 'fp32' else 0.02)


def test_parity_with_pytorch_on_real_clips(tiny, real_windows):
    reference = torch_logits(tiny['model'], real_windows)
    fp32 = parity(reference, OnnxClassifier(tiny['fp32']), real_windows)
    assert fp32['agreement'] == 1.0 and fp32['max_prob_diff'] < 1e-4 and fp32['max_logit_diff'] < 1e-3
    int8 = parity(reference, OnnxClassifier(tiny['int8']), real_windows)
    assert int8['clips'] == len(real_windows)
    assert 0 < int8['max_prob_diff'] < 0.05  # quantisation changes something, but little


def test_not_onnx_at_all(tmp_path):
    bad = tmp_path/'model.onnx'
    bad.write_bytes(b'RIFF\x00\x00\x00\x00WAVEfmt ' + bytes(100))
    with pytest.raises(ModelFileError, match=r'model\.onnx: not a distilser model \(not a readable ONNX file'):
        OnnxClassifier(bad)


def test_onnx_without_our_metadata(tiny, tmp_path):
    plain = export_fp32(tiny['model'], tmp_path/'plain.onnx')
    with pytest.raises(ModelFileError, match=r'plain\.onnx: not a distilser model \(an ONNX file without distilser metadata\)'):
        OnnxClassifier(plain)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match='no such model file'):
        OnnxClassifier(tmp_path/'nothing.onnx')


def test_cli_export_and_bench(tiny, tmp_path):
    r = run_cli('export', tiny['checkpoint'], '--out', tmp_path/'cli', '--parity-clips', '4')
    assert r.returncode == 0, r.stderr
    assert 'agrees with PyTorch on 100.0% of 4 real clips' in r.stdout
    assert 'random weights (offline configuration)' in r.stdout
    assert OnnxClassifier(tmp_path/'cli'/'model.int8.onnx').labels == LABELS
    r = run_cli('bench', tmp_path/'cli'/'model.int8.onnx', '--threads', '1', '--repeats', '1')
    assert r.returncode == 0 and 'real-time factor' in r.stdout, r.stderr


def test_cli_bad_input_is_one_line(tmp_path):
    r = run_cli('export', tmp_path/'no_such_checkpoint', '--out', tmp_path/'out')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'no_such_checkpoint' in r.stderr
    (tmp_path/'fake.onnx').write_text('hello')
    r = run_cli('bench', tmp_path/'fake.onnx')
    assert r.returncode == 2 and 'fake.onnx: not a distilser model' in r.stderr and 'Traceback' not in r.stderr
