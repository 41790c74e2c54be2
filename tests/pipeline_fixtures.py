"Shared by tests/test_pipeline.py and tests/test_bad_input.py: a tiny exported model, real voice notes, the CLI."
import pytest
from conftest import run_cli
from distilser.data import ravdess_manifest
from distilser.pipeline import make_voice_note

@pytest.fixture(scope='session')
def model_dir(tiny):
    "The directory with model.onnx and model.int8.onnx of the tiny offline configuration (random weights)."
    return tiny['export']

@pytest.fixture(scope='session')
def clips(subset_root):
    "One real RAVDESS clip of each of the four emotions, in label order."
    manifest = ravdess_manifest(subset_root)
    return manifest.groupby('label').head(1).sort_values('label')

@pytest.fixture(scope='session')
def note(tmp_path_factory, clips):
    "A 16 kHz voice note: the four clips with silences between them; returns (path, where each clip sits)."
    path = tmp_path_factory.mktemp('note') / 'note.flac'
    truth = make_voice_note(clips.path.tolist(), [1.0, 2.0, 3.0, 1.5, 1.0], path)
    return path, truth.assign(label=clips.label.values)

def analyze(*args):
    "Run `distilser analyze ARGS` in a fresh interpreter, as a user would."
    return run_cli('analyze', *args)
