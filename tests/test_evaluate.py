"Cross-corpus evaluation on real RAVDESS clips: the report's numbers against scikit-learn, the figures, bad input."
import json, shutil, warnings

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, recall_score

from conftest import run_cli
from distilser.cli import main
from distilser.core import AROUSAL, LABELS, softmax
from distilser.data import ravdess_manifest
from distilser.evaluate import PAPER_RAVDESS, evaluate, open_model
from distilser.export import ModelFileError
from distilser.core import RANDOM_WEIGHTS_NOTE
from distilser.model import RandomWeightsWarning


@pytest.fixture(scope='module')
def report(tiny, subset_root, tmp_path_factory):
    "`distilser evaluate` of the int8 model on the RAVDESS subset."
    out = tmp_path_factory.mktemp('report')
    r = run_cli('evaluate', tiny['int8'], '--ravdess', subset_root, '--out', out, '--threads', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r, json.loads((out/'metrics.json').read_text()), pd.read_csv(out/'predictions.csv')


def test_report_files(report):
    out, r, metrics, _ = report
    for name in ('confusion.png', 'reliability.png', 'arousal.png'):
        data = (out/name).read_bytes()
        assert len(data) > 1000 and data[:8] == b'\x89PNG\r\n\x1a\n', name
    assert 'recall sadness' in r.stdout and RANDOM_WEIGHTS_NOTE in r.stdout
    assert 'calibration (temperature 1): ECE' in r.stdout and 'reliability.png' in r.stdout


def test_metrics_agree_with_sklearn(report, subset_root):
    _, _, m, preds = report
    manifest = ravdess_manifest(subset_root)
    assert m['n_clips'] == len(manifest) == len(preds) == np.sum(m['confusion']) == 128
    assert sorted(preds.path) == sorted(manifest.path)
    assert (preds.label.values == manifest.set_index('path').label[preds.path].values).all()
    y, p = preds.label, preds.prediction
    # ratios of the same integer counts in float64 (exact to an ulp, ~1e-16): 1e-12 holds on any CPU
    assert m['accuracy'] == pytest.approx(np.trace(m['confusion']) / np.sum(m['confusion']), abs=1e-12)
    assert m['accuracy'] == pytest.approx(accuracy_score(y, p), abs=1e-12)
    assert m['ua'] == pytest.approx(balanced_accuracy_score(y, p), abs=1e-12)
    assert [m[f'recall_{l}'] for l in LABELS] == pytest.approx(recall_score(y, p, labels=LABELS, average=None,
                                                                            zero_division=0))
    assert m['confusion'] == confusion_matrix(y, p, labels=LABELS).tolist()
    assert m['clips_per_class'] == y.value_counts().reindex(LABELS).to_dict()
    # each row's prediction is its most probable label
    assert (preds[[f'p_{l}' for l in LABELS]].to_numpy().argmax(1) == p.map(LABELS.index).to_numpy()).all()


def test_calibration_figures(report):
    "ECE (15 equal-width bins of the top probability) and Brier score, computed here the long way from predictions.csv."
    _, _, m, preds = report
    p = preds[[f'p_{l}' for l in LABELS]].to_numpy()
    conf, right = p.max(1), p.argmax(1) == preds.label.map(LABELS.index).to_numpy()
    gaps = [abs(right[b].mean() - conf[b].mean()) * b.sum() for lo in np.arange(15) / 15
            if (b := (conf > lo) & (conf <= lo + 1 / 15)).any()]
    # from float32 probabilities (predictions.csv) re-summed here in float64: float32's ~6e-8 per value, so 1e-6
    assert m['ece'] == pytest.approx(sum(gaps) / len(p), abs=1e-6)
    onehot = np.eye(4)[preds.label.map(LABELS.index)]
    assert m['brier'] == pytest.approx(((p - onehot) ** 2).sum(1).mean(), abs=1e-6)
    assert m['mean_confidence'] == pytest.approx(conf.mean(), abs=1e-6)
    assert (m['temperature'], m['min_confidence'], m['uncertain_share']) == (1.0, 0.0, 0.0)  # the tiny export has none
    assert m['accuracy_when_certain'] == pytest.approx(m['accuracy'], abs=1e-12)
    # the raw logits are kept beside the probabilities
    np.testing.assert_allclose(softmax(preds[[f'logit_{l}' for l in LABELS]].to_numpy()), p, atol=1e-6)  # float32, as above


def test_arousal_view(report):
    _, _, m, preds = report
    true, pred = preds.label.map(AROUSAL), preds.prediction.map(AROUSAL)
    assert np.sum(m['arousal_confusion']) == m['n_clips']
    assert m['arousal_confusion'] == confusion_matrix(true, pred, labels=['high', 'low']).tolist()
    assert m['arousal_accuracy'] == pytest.approx((true == pred).mean(), abs=1e-12)  # integer counts, as above


def test_random_weights_and_paper_figures_are_labelled(report):
    _, _, m, _ = report
    assert m['random_weights'] is True and m['note'] == RANDOM_WEIGHTS_NOTE and RANDOM_WEIGHTS_NOTE in m['description']
    assert m['paper'] == dict(accuracy=0.4664, ua=0.4557, recall_anger=0.99, recall_neutral=0.55, recall_sadness=0.27,
                              source=m['paper']['source'])
    assert 'Sec. V-B' in m['paper']['source'] and PAPER_RAVDESS['accuracy'] == 0.4664
    assert m['cross_corpus'] is True  # the offline model was not trained on RAVDESS


def test_checkpoint_and_unreadable_clips(tiny, subset_root, tmp_path):
    "A checkpoint directory evaluates too; a broken clip is reported and skipped, the rest is scored."
    actor = tmp_path/'ravdess'/'Audio_Speech_Actors_01-24'/'Actor_01'
    actor.mkdir(parents=True)
    picked = ravdess_manifest(subset_root).groupby('label').head(2)
    for p in picked.path: shutil.copy(p, actor)
    broken = actor/'03-01-05-02-02-02-01.flac'
    broken.write_bytes(b'fLaC' + bytes(200))  # a FLAC name and magic number, no audio
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)  # the JSON says it, checked below
        m = evaluate(tiny['checkpoint'], ravdess_manifest(tmp_path/'ravdess'), out_dir=tmp_path/'out', progress=False)
    assert m['n_clips'] == len(picked) == np.sum(m['confusion'])
    assert [s['path'] for s in m['skipped']] == [str(broken)] and m['skipped'][0]['reason']
    assert m['random_weights'] is True
    assert len(pd.read_csv(tmp_path/'out'/'predictions.csv')) == len(picked)
    assert json.loads((tmp_path/'out'/'metrics.json').read_text())['skipped'] == m['skipped']


def test_missing_ravdess_root(tiny, tmp_path, capsys):
    assert main(['evaluate', str(tiny['export']), '--ravdess', str(tmp_path/'no-ravdess'),
                 '--out', str(tmp_path/'o')]) == 2
    err = capsys.readouterr().err
    assert 'no-ravdess' in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path/'o').exists()


def test_model_files_that_are_not_distilser_models(subset_root, tmp_path, capsys):
    text = tmp_path/'model.onnx'
    text.write_text('not a model')
    assert main(['evaluate', str(text), '--ravdess', str(subset_root), '--out', str(tmp_path/'o')]) == 2
    err = capsys.readouterr().err
    assert f'{text}: not a distilser model' in err and 'Traceback' not in err
    # a valid ONNX graph without distilser's metadata
    graph = onnx.helper.make_graph([onnx.helper.make_node('Identity', ['x'], ['y'])], 'g',
                                   [onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(graph), tmp_path/'other.onnx')
    with pytest.raises(ModelFileError, match='not a distilser model'): open_model(tmp_path/'other.onnx')
    # a transformers checkpoint that distilser did not write, and an empty directory
    (tmp_path/'hf').mkdir(); (tmp_path/'hf'/'config.json').write_text('{"model_type": "hubert"}')
    with pytest.raises(ModelFileError, match='not a distilser model'): open_model(tmp_path/'hf')
    with pytest.raises(ModelFileError, match='not a distilser model'): open_model(tmp_path)
    with pytest.raises(ModelFileError, match='no such file'): open_model(tmp_path/'missing.onnx')
