"""`distilser analyze` on what users really feed it: each bad file gets one line naming it and the reason, the others
are still analysed, no traceback, and the exit status is non-zero only when nothing could be analysed."""
import json
from importlib.resources import files
import numpy as np
import soundfile as sf
import pytest
from distilser.preprocessing import SAMPLE_RATE, load_audio
from pipeline_fixtures import model_dir, clips, note, analyze  # noqa: F401 (fixtures)

def write_bad_files(folder, speech) -> dict:
    "One file per user mistake, each with the phrase its error line must contain."
    folder.mkdir(exist_ok=True)
    (folder / 'empty.wav').write_bytes(b'')
    (folder / 'notes.wav').write_text('shopping list: milk, eggs\n' * 50)        # not audio, audio name
    sf.write(folder / 'cut.flac', speech, SAMPLE_RATE)
    data = (folder / 'cut.flac').read_bytes()
    (folder / 'cut.flac').write_bytes(data[: len(data) // 2])                   # truncated FLAC: decoding fails midway
    sf.write(folder / 'header.wav', speech, SAMPLE_RATE)
    (folder / 'header.wav').write_bytes((folder / 'header.wav').read_bytes()[:40])  # cut inside the WAV header
    for name, value in [('nan.wav', np.nan), ('inf.wav', np.inf)]:
        bad = speech.copy()
        bad[len(bad) // 2] = value
        sf.write(folder / name, bad, SAMPLE_RATE, subtype='FLOAT')
    return {folder / 'missing.wav': 'no such file', folder / 'empty.wav': 'empty file',
            folder / 'notes.wav': 'not a readable audio file', folder / 'cut.flac': 'cannot decode audio',
            folder / 'header.wav': 'not a readable audio file', folder / 'nan.wav': 'NaN or infinite',
            folder / 'inf.wav': 'NaN or infinite'}

def write_odd_but_fine_files(folder, speech) -> dict:
    "Files that look wrong but hold audio: each is analysed. Returns path -> the duration it must report."
    sf.write(folder / 'truncated.wav', speech, SAMPLE_RATE, subtype='PCM_16')
    data = (folder / 'truncated.wav').read_bytes()
    (folder / 'truncated.wav').write_bytes(data[: len(data) // 2])  # libsndfile reads the samples still there
    sf.write(folder / 'quiet.wav', np.random.default_rng(0).normal(0, 1e-4, 10 * SAMPLE_RATE), SAMPLE_RATE)  # no speech
    return {folder / 'truncated.wav': len(speech) / 2 / SAMPLE_RATE, folder / 'quiet.wav': 10.0}

@pytest.fixture(scope='module')
def bad_run(tmp_path_factory, note, model_dir):
    "One call with every bad file, two odd but usable ones, and the good note."
    folder = tmp_path_factory.mktemp('bad')
    speech = load_audio(note[0])
    expected = write_bad_files(folder, speech[: 6 * SAMPLE_RATE])
    usable = write_odd_but_fine_files(folder, speech)
    done = analyze(*expected, *usable, note[0], '--model', model_dir, '--json')
    return expected, usable, done

def test_good_file_is_analysed_among_bad_ones(bad_run, note):
    expected, _, done = bad_run
    assert done.returncode == 0
    records = {r['path']: r for r in json.loads(done.stdout)}
    assert records[str(note[0])]['emotion'] is not None
    assert all('error' in records[str(p)] for p in expected)

@pytest.mark.parametrize('name', ['missing.wav', 'empty.wav', 'notes.wav', 'cut.flac', 'header.wav', 'nan.wav',
                                  'inf.wav'])
def test_each_bad_file_gets_one_line(bad_run, name):
    expected, _, done = bad_run
    path = next(p for p in expected if p.name == name)
    lines = [l for l in done.stderr.splitlines() if l.startswith(f'{path}:')]
    assert len(lines) == 1 and expected[path] in lines[0], done.stderr
    assert 'Traceback' not in done.stderr

def test_nothing_analysable_exits_non_zero(tmp_path, model_dir):
    done = analyze(tmp_path / 'missing.wav', tmp_path / 'gone.flac', '--model', model_dir)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f'{tmp_path / "missing.wav"}: no such file',
                                        f'{tmp_path / "gone.flac"}: no such file']
    assert done.stdout == ''

def test_truncated_wav_analyses_what_is_there(bad_run):
    "A WAV cut in half: libsndfile reads the samples it still holds, and the reported duration says how much that was."
    _, usable, done = bad_run
    path = next(p for p in usable if p.name == 'truncated.wav')
    record = next(r for r in json.loads(done.stdout) if r['path'] == str(path))
    assert record['duration'] == pytest.approx(usable[path], abs=0.01)  # reported to 3 decimals (half a unit: 5e-4)
    assert record['emotion'] is not None

def test_silence_is_a_result(bad_run):
    "Faint noise and no speech: 'no speech detected' is the answer, not an error."
    _, usable, done = bad_run
    path = next(p for p in usable if p.name == 'quiet.wav')
    record = next(r for r in json.loads(done.stdout) if r['path'] == str(path))
    assert (record['emotion'], record['windows'], record['duration']) == (None, [], 10.0)
    assert str(path) not in done.stderr

VARIANTS = [(8000, 1), (48000, 1), (16000, 2), (44100, 2)]

@pytest.fixture(scope='module')
def variants_run(tmp_path_factory, note, model_dir):
    "The note at 16 kHz mono, then at 8 kHz, 48 kHz, in stereo and at 44.1 kHz stereo, in one call."
    folder = tmp_path_factory.mktemp('variants')
    paths = []
    for rate, channels in VARIANTS:
        x = load_audio(note[0], sr=rate)
        paths.append(folder / f'note_{rate}_{channels}.wav')
        sf.write(paths[-1], np.stack([x] * channels, axis=1), rate)
    return analyze(note[0], *paths, '--model', model_dir, '--json')

@pytest.mark.parametrize('i', range(len(VARIANTS)), ids=[f'{r}Hz-{c}ch' for r, c in VARIANTS])
def test_other_rates_and_stereo(variants_run, i):
    "Resampled and mixed down while streaming: the same duration, nearly the same speech, the same windows."
    assert variants_run.returncode == 0 and variants_run.stderr == '', variants_run.stderr
    reference, *results = json.loads(variants_run.stdout)
    result = results[i]
    assert result['duration'] == pytest.approx(reference['duration'], abs=0.01)  # a sample at 8 kHz, 3 decimals
    # the VAD decides on resampled audio: a 32 ms frame or a few at each edge of the four sentences may turn
    assert result['speech_seconds'] == pytest.approx(reference['speech_seconds'], abs=0.5)
    assert len(result['windows']) == len(reference['windows'])

@pytest.mark.parametrize('kind', ['text', 'foreign onnx', 'missing'])
def test_model_that_is_not_a_distilser_model(tmp_path, note, kind):
    model = {'text': tmp_path / 'model.onnx', 'missing': tmp_path / 'nowhere.onnx',
             'foreign onnx': files('silero_vad.data') / 'silero_vad.onnx'}[kind]  # a real ONNX model, not ours
    if kind == 'text': model.write_text('not a model')
    done = analyze(note[0], '--model', model)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and str(model) in done.stderr, done.stderr
    assert 'Traceback' not in done.stderr
