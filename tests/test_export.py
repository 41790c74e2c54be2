"""ONNX export of small models: metadata, the input contract, unpadded clips of any length, parity with PyTorch, bad
files."""
import json

import numpy as np
import onnx
import pytest

from distilser.core import LABELS
from distilser.data import ravdess_manifest
from distilser.export import (ModelFileError, OnnxClassifier, QuantizationError, agreement, calibration_clips,
                              export_fp32, quantize_int8, read_metadata, saturating_weights,
                              training_audio)
from distilser.loso import clip_logits
from distilser.model import OFFLINE_TINY
from distilser.preprocessing import SAMPLE_RATE, input_contract, load_clip
from conftest import run_cli


@pytest.fixture(scope='module')
def real_clips(subset_root):
    "Real RAVDESS clips as a model takes them: preprocessed, at most 8 s, unpadded (so of different lengths)."
    return [load_clip(p) for p in ravdess_manifest(subset_root).path[::11]]


@pytest.mark.parametrize('which', ['fp32', 'int8'])
def test_metadata(tiny, which):
    meta = read_metadata(tiny[which])
    assert json.loads(meta['distilser_labels']) == LABELS
    assert (meta['sample_rate'], meta['window_seconds']) == ('16000', '8.0')
    assert json.loads(meta['preprocessing']) == input_contract(8.0)
    assert ((meta['backbone'], meta['training_data'], meta['random_weights'])
            == (OFFLINE_TINY, 'nothing: random weights', 'true'))
    clf = OnnxClassifier(tiny[which], num_threads=1)
    assert clf.labels == LABELS and clf.sample_rate == 16000 and clf.window_seconds == 8.0
    assert clf.preprocessing['padding'] == 'none' and clf.is_random_weights


def test_int8_is_static_and_smaller(tiny):
    graph = onnx.load(str(tiny['int8'])).graph
    assert {'QuantizeLinear', 'DequantizeLinear'} <= {n.op_type for n in graph.node}
    # the encoder convolutions at least
    assert sum(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer) >= 6
    assert tiny['int8'].stat().st_size < 0.8 * tiny['fp32'].stat().st_size
    record = json.loads(read_metadata(tiny['int8'])['quantization'])
    assert record['recipe'].startswith('static QDQ') and (record['calibration_clips'], record['guard_clips']) == (8, 16)
    assert record['always_float'][0].endswith('(Conv)')  # the convolution that reads the waveform
    assert record['saturation_free'] and saturating_weights(tiny['int8']) == []  # 7-bit weights: same on every CPU


def test_clips_of_any_length_are_never_padded(tiny, real_clips):
    clf = OnnxClassifier(tiny['fp32'])
    assert len({len(c) for c in real_clips}) > 1
    together = clf.clip_logits(real_clips, batch_size=4)
    alone = np.concatenate([clf.predict_logits(c) for c in real_clips])
    # float32 logits of a few units through onnxruntime's batched and single-clip paths (other kernels, other
    # summation orders): ~1e-6 apart, so 1e-5
    np.testing.assert_allclose(together, alone, atol=1e-5)
    padded = clf.predict_logits(np.pad(real_clips[0], (0, 8 * SAMPLE_RATE - len(real_clips[0]))))
    assert np.abs(padded - alone[:1]).max() > 1e-4  # padding would have changed what the model says


def test_parity_with_pytorch_on_real_clips(tiny, real_clips):
    reference = clip_logits(tiny['model'], real_clips)
    fp32 = agreement(reference, OnnxClassifier(tiny['fp32']), real_clips)
    assert fp32['agreement'] == 1.0 and fp32['max_prob_diff'] < 1e-4 and fp32['max_logit_diff'] < 1e-3
    int8 = agreement(reference, OnnxClassifier(tiny['int8']), real_clips)
    assert int8['clips'] == len(real_clips) and 0 < int8['max_logit_diff']  # quantisation changes something


def test_guard_refuses_an_unreachable_floor(tiny, tmp_path):
    audio = training_audio()  # no corpus of its own: the CREMA-D clips that ship with distilser
    assert set(audio.corpus) == {'cremad'}
    calibration, guard = calibration_clips(audio, 4), calibration_clips(audio, 8, skip=4)
    with pytest.raises(QuantizationError, match='below the floor of 101.0%'):
        quantize_int8(tiny['fp32'], tmp_path/'never.onnx', calibration, guard, floor=1.01, max_float=1)
    assert not (tmp_path/'never.onnx').exists()


def test_not_onnx_at_all(tmp_path):
    bad = tmp_path/'model.onnx'
    bad.write_bytes(b'RIFF\x00\x00\x00\x00WAVEfmt ' + bytes(100))
    with pytest.raises(ModelFileError, match=r'model\.onnx: not a distilser model \(not a readable ONNX file'):
        OnnxClassifier(bad)


def test_truncated_model_file(tiny, tmp_path):
    cut = tmp_path/'cut.onnx'
    cut.write_bytes(tiny['int8'].read_bytes()[:5000])
    with pytest.raises(ModelFileError, match=r'cut\.onnx: not a distilser model'):
        OnnxClassifier(cut)


def test_onnx_without_our_metadata(tiny, tmp_path):
    plain = export_fp32(tiny['model'], tmp_path/'plain.onnx')
    with pytest.raises(ModelFileError,
                       match=r'plain\.onnx: not a distilser model \(an ONNX file without distilser metadata\)'):
        OnnxClassifier(plain)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match='no such model file'):
        OnnxClassifier(tmp_path/'nothing.onnx')


def test_cli_export(tiny, tmp_path):
    r = run_cli('export', tiny['checkpoint'], '--out', tmp_path/'cli', '--calibration-clips', '4', '--guard-clips', '8',
                '--floor', '0')
    assert r.returncode == 0, r.stderr
    assert 'agrees with PyTorch on 100.0% of 8 clips' in r.stdout and 'kept in float:' in r.stdout
    assert 'random weights (offline configuration)' in r.stdout
    assert OnnxClassifier(tmp_path/'cli'/'model.int8.onnx').labels == LABELS


def test_cli_bad_input_is_one_line(tmp_path):
    r = run_cli('export', tmp_path/'no_such_checkpoint', '--out', tmp_path/'out')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'no_such_checkpoint' in r.stderr
