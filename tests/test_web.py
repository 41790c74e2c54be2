"""The web page (nbs/11_web.ipynb) in a real browser: Debian's headless Chromium, driven by selenium.

The page's files are built into a scratch folder (`write_web_assets`, the function `make docs` uses for _docs/, plus
the page alone as web.html) and served over http on localhost; no notebook is executed. Real clips go through the
page's file input and its results are read from the page: on 16 kHz files they equal `distilser analyze`'s; a 48 kHz
stereo note keeps its emotion; the microphone (Chromium's fake capture device, fed from a WAV file) grows the
timeline while recording; bad input gives one line on the page, which stays usable.
"""
import json, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from distilser.data import ravdess_manifest, sample_ravdess_root
from distilser.export import write_metadata
from distilser.pipeline import analyze, make_voice_note
from distilser.export import DEFAULT_MODEL
from distilser.web import PAGE_MODEL, analyze_in_page, chromium, read_page, serve, wait_for, write_web_assets

CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason='no Chromium: `make docs` installs chromium + chromium-driver')


CALIBRATION = {'temperature': 1.7, 'min_confidence': {'note': 0.6, 'window': 0.6}}


def add_calibrated_model(web):
    "The default model with a calibration record in its metadata, offered by the page as one more model"
    models = json.loads((web/'models.json').read_text())
    entry = {**models[0], 'name': 'calibrated (test)', 'file': f"models/calibrated/{Path(models[0]['file']).name}"}
    (web/entry['file']).parent.mkdir()
    shutil.copy(web/models[0]['file'], web/entry['file'])
    write_metadata(web/entry['file'], {'calibration': json.dumps(CALIBRATION)})
    (web/'models.json').write_text(json.dumps(models + [entry]))


@pytest.fixture(scope='module')
def work():
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        web = write_web_assets(d/'site', page=True)
        add_calibrated_model(web)
        clips = ravdess_manifest(sample_ravdess_root()).groupby('label').head(2).sort_values('label')
        make_voice_note(clips.path.tolist(), [1.0] * 9, d/'note.flac')  # the home page's example
        make_voice_note(clips.path.tolist()[:4], [0.3] * 5, d/'speech.wav')  # the fake microphone's voice
        yield d


@pytest.fixture(scope='module')
def page(work):
    "The page, loaded and ready, in a browser whose microphone plays speech.wav"
    fake_mic = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
                f"--use-file-for-fake-audio-capture={work/'speech.wav'}"]
    with serve(work/'site') as url, chromium(*fake_mic) as driver:
        driver.get(url + 'web.html')
        ready = wait_for(driver, ('ready', 'error'))
        assert ready['state'] == 'ready', ready['status']
        yield driver
        assert [e for e in driver.get_log('browser') if e['level'] == 'SEVERE'] == []


def assert_same(shown, expected, eps):
    "The page's windows and emotion equal `distilser analyze --json`'s (its to_dict) within `eps`"
    assert shown['state'] == 'done', shown['status']
    assert len(shown['windows']) == len(expected['windows'])
    for w, e in zip(shown['windows'], expected['windows']):
        assert abs(w['start'] - e['start']) < 1e-3 and abs(w['end'] - e['end']) < 1e-3  # times kept to 3 decimals
        # eps 1e-3 for the same file: onnxruntime-web's WASM kernels against ONNX Runtime's native ones (float32,
        # ~1e-6), and the JavaScript preprocessing against numpy's (float32 and float64 roundings before the model)
        for label, p in e['probabilities'].items(): assert abs(w['probabilities'][label] - p) < eps, (w, e)
        assert w['ms'] > 0 and w['uncertain'] == e['uncertain']
    assert (shown['emotion'], shown['uncertain']) == (expected['emotion'], expected['uncertain'])


def test_16khz_clips_equal_distilser_analyze(page):
    paths = ravdess_manifest(sample_ravdess_root()).groupby('label').head(1).path.tolist()
    r = subprocess.run([str(Path(sys.executable).parent/'distilser'), 'analyze', *paths, '--json', '--model', PAGE_MODEL],
                       capture_output=True, text=True, check=True)
    for path, expected in zip(paths, json.loads(r.stdout), strict=True):
        assert_same(analyze_in_page(page, path), expected, 1e-3)


def test_example_note_equal_python_and_48khz_stereo_keeps_its_emotion(page, work):
    expected = analyze(work/'note.flac', PAGE_MODEL).to_dict()
    shown = analyze_in_page(page, work/'note.flac')
    assert_same(shown, expected, 1e-3)
    assert len(shown['windows']) > 1 and 'analysed in' in shown['status']
    x, sr = sf.read(work/'note.flac', dtype='float32')
    y = soxr.resample(x, sr, 48_000)
    sf.write(work/'note48.wav', np.stack([y, 0.5 * y], axis=1), 48_000)  # the browser resamples, not soxr
    resampled = analyze_in_page(page, work/'note48.wav')
    assert resampled['state'] == 'done' and resampled['emotion'] == expected['emotion'], resampled['status']
    diff = max(abs(resampled['probabilities'][k] - p) for k, p in expected['probabilities'].items())
    assert diff < 0.1, diff  # bench/web_speed.py measures it: a few hundredths


def test_opposed_microphones_keep_the_louder_one(page, work):
    "A stereo file whose mean would cancel the voice: the page keeps the louder channel, as `distilser analyze` does"
    voice, sr = sf.read(work/'note.flac', dtype='float32')
    other = -0.9 * voice + 0.3 * np.roll(voice, sr // 3)
    sf.write(work/'opposed.wav', np.stack([other, voice], axis=1), sr, subtype='FLOAT')
    expected = analyze(work/'opposed.wav', PAGE_MODEL).to_dict()
    assert_same(analyze_in_page(page, work/'opposed.wav'), expected, 1e-3)
    np.testing.assert_allclose([list(w['probabilities'].values()) for w in expected['windows']],
                               [list(w['probabilities'].values()) for w in analyze(work/'note.flac', PAGE_MODEL).to_dict()['windows']],
                               atol=1e-4)  # the louder channel is the voice itself (windows keep 4 decimals)


def test_default_model_from_the_menu_equals_python(page, work):
    "The page opens with the small CNN; distilser's default model, picked in its menu, gives `distilser analyze`'s note"
    from selenium.webdriver.support.ui import Select
    file = next(o.get_attribute('value') for o in Select(page.find_element('id', 'ds-model')).options
                if o.get_attribute('value').startswith(f'models/{DEFAULT_MODEL}/'))
    page.execute_script("document.getElementById('ds-app').dataset.state = 'sent'")
    Select(page.find_element('id', 'ds-model')).select_by_value(file)
    wait_for(page, ('ready',), timeout=120)
    try:
        assert_same(analyze_in_page(page, work/'note.flac', timeout=120), analyze(work/'note.flac').to_dict(), 1e-3)
    finally:  # the other tests expect the page's first model
        page.execute_script("document.getElementById('ds-app').dataset.state = 'sent'")
        Select(page.find_element('id', 'ds-model')).select_by_index(0)
        wait_for(page, ('ready',), timeout=120)


def test_bad_input_gives_one_line(page, work):
    (work/'notes.txt').write_text('not audio\n')
    (work/'empty.wav').write_bytes(b'')
    sf.write(work/'silence.wav', np.zeros(3 * 16_000, np.float32), 16_000)
    for name, says, state in [('notes.txt', 'notes.txt: cannot decode audio', 'error'),
                              ('empty.wav', 'empty.wav: empty file', 'error'),
                              ('silence.wav', 'no speech detected', 'done')]:
        shown = analyze_in_page(page, work/name, timeout=20)
        assert shown['state'] == state and '\n' not in shown['status'], shown
        assert says in (shown['status'] + shown['note']), shown
        assert shown['windows'] == [] and shown['emotion'] is None
    assert analyze_in_page(page, work/'note.flac')['state'] == 'done'  # the page still works


def test_microphone_grows_the_timeline(page):
    page.find_element('id', 'ds-record').click()
    deadline, shown = time.time() + 30, read_page(page)
    while time.time() < deadline and not shown['windows']:  # a bar after 4 s of speech
        time.sleep(0.25)
        shown = read_page(page)
    assert shown['state'] == 'recording' and shown['windows'], shown['status']
    assert 'recording:' in shown['status']
    page.find_element('id', 'ds-record').click()
    final = wait_for(page, ('done', 'error'), 30)
    assert final['state'] == 'done' and final['emotion'] and final['windows'], final['status']
    assert final['note'].startswith('recording: emotion:')


def choose_model(page, choose):
    "Pick a model in the page's list (`choose(Select)`) and wait until it is loaded"
    from selenium.webdriver.support.ui import Select
    page.execute_script("document.getElementById('ds-app').dataset.state = 'sent'")
    choose(Select(page.find_element('id', 'ds-model')))
    shown = wait_for(page, ('ready', 'error'))
    assert shown['state'] == 'ready', shown['status']


def test_calibration_from_the_model_metadata(page, work):
    "A model whose metadata carries a temperature and confidence floors: the page applies both, as Python does"
    offered = json.loads((work/'site'/'web'/'models.json').read_text())
    file = next(m['file'] for m in offered if m['file'].startswith('models/calibrated/'))
    choose_model(page, lambda s: s.select_by_value(file))
    calibrated = work/'site'/'web'/file
    expected = analyze(work/'note.flac', model=calibrated).to_dict()
    shown = analyze_in_page(page, work/'note.flac')
    assert_same(shown, expected, 1e-3)
    assert any(w['uncertain'] for w in shown['windows'])  # T = 1.7 flattens them below the 0.6 floor
    assert 'uncertain (' in shown['note'] or not shown['uncertain']
    choose_model(page, lambda s: s.select_by_index(0))
