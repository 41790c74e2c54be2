"""Emotion while someone speaks: `EmotionStream` on a real voice note in random chunks against the file path, its
memory on a long stream, and `distilser listen` fed a real WAV through the microphone's path."""
import json, signal, subprocess, time
import numpy as np
import pytest
import soundfile as sf
from distilser.export import open_model
from distilser.pipeline import EmotionStream, analyze_file, make_voice_note
from conftest import DISTILSER, run_cli
from pipeline_fixtures import clips  # noqa: F401 (fixture)


@pytest.fixture(scope='module')
def model():
    "distilser's default model, shipped in the package (trained on CREMA-D; 4 s windows)."
    return open_model()


@pytest.fixture(scope='module')
def stereo_note(tmp_path_factory, clips):
    """The four RAVDESS clips, four times, with pauses: a 44.1 kHz stereo float WAV (the right channel at half
    level), and its samples."""
    folder = tmp_path_factory.mktemp('stream')
    mono = folder / 'mono.wav'
    make_voice_note(clips.path.tolist() * 4, [1.0, 2.0, 0.4, 3.0] * 4 + [1.0], mono, sr=44100)
    x, _ = sf.read(mono, dtype='float32')
    stereo = np.stack([x, 0.5 * x], axis=1)
    sf.write(folder / 'note.wav', stereo, 44100, subtype='FLOAT')
    return folder / 'note.wav', stereo


def feed_in_chunks(stream, samples, seed, n_chunks=500):
    "Feed `samples` in `n_chunks` random-sized pieces (from 1 sample up); the windows in the order they came."
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(samples)), n_chunks - 1, replace=False))
    return [w for chunk in np.split(samples, cuts) for w in stream.feed(chunk)]


@pytest.mark.parametrize('seed', [0, 1])
def test_random_chunks_give_the_file_result(stereo_note, model, seed):
    path, samples = stereo_note
    from_file = analyze_file(path, model)
    stream = EmotionStream(model, 44100)
    arrived = feed_in_chunks(stream, samples, seed)
    live = stream.close()
    assert len(from_file.windows) >= 4
    assert arrived == live.windows[:len(arrived)] and len(arrived) >= len(live.windows) - 1  # only the tail waited
    assert live.speech == from_file.speech
    for a, b in zip(live.windows, from_file.windows):
        assert (a['start'], a['end'], a['speech'], a['emotion']) == (b['start'], b['end'], b['speech'], b['emotion'])
        # the stream classifies windows one at a time, the file several to a call: float32 results ~1e-7 apart, so a
        # window's figures, kept to 4 decimals, may differ by one unit of the last where they straddle a rounding
        assert np.allclose(list(a['probabilities'].values()), list(b['probabilities'].values()), atol=1.5e-4)
    assert np.allclose(list(live.probabilities.values()), list(from_file.probabilities.values()), atol=1e-5)
    assert live.duration == pytest.approx(from_file.duration, abs=1e-9)  # float64 sample counts / rate: exact to 1e-15


def window_probabilities(note) -> np.ndarray:
    return np.array([list(w['probabilities'].values()) for w in note.windows])


def test_opposed_microphones_keep_the_louder_one(stereo_note, model, tmp_path):
    """Two microphones whose mean cancels most of the voice (as EMOVO's): the file path, and the stream deciding on
    what it has heard so far, both analyse the louder channel, as `load_audio` reads it; the mean would differ."""
    _, samples = stereo_note
    voice = samples[:, 0]
    other = -0.9 * voice + 0.3 * np.roll(voice, 13230)  # the other microphone: inverted, with a late echo
    files = {name: tmp_path / f'{name}.wav' for name in ('opposed', 'louder', 'mean')}
    for name, x in [('opposed', np.stack([other, voice], axis=1)), ('louder', voice), ('mean', (other + voice) / 2)]:
        sf.write(files[name], x, 44100, subtype='FLOAT')
    expected = window_probabilities(analyze_file(files['louder'], model))
    stream = EmotionStream(model, 44100)
    feed_in_chunks(stream, np.stack([other, voice], axis=1), seed=0)
    for got in analyze_file(files['opposed'], model), stream.close():
        np.testing.assert_allclose(window_probabilities(got), expected, atol=1.5e-4)  # 4 decimals kept (see above)
    averaged = window_probabilities(analyze_file(files['mean'], model))
    assert averaged.shape != expected.shape or np.abs(averaged - expected).max() > 1e-2  # what averaging would give


def test_memory_stays_bounded_on_a_long_stream(clips, model, tmp_path):
    "Ten minutes of mostly silence with sentences: the stream never holds more than a few seconds of audio."
    path = tmp_path / 'long.wav'
    make_voice_note(clips.path.tolist() * 3, 50.0, path)
    x, rate = sf.read(path, dtype='float32')
    stream, held = EmotionStream(model, rate), []
    for chunk in np.array_split(x, len(x) // 1600):  # 0.1 s chunks, as a sound card gives them
        stream.feed(chunk)
        held.append(len(stream.audio) + len(stream.speech))
    result = stream.close()
    assert result.duration > 600 and len(result.windows) >= 4
    assert max(held) < 3 * stream.window  # the next window's speech and the unsettled audio, never the recording


def test_listen_from_a_file_as_from_the_microphone(stereo_note, model, tmp_path):
    path, _ = stereo_note
    out = tmp_path / 'live.jsonl'
    done = run_cli('listen', '--file', path, '--out', out)
    assert done.returncode == 0, done.stderr
    expected = analyze_file(path, model)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['type'] for r in records] == ['window'] * len(expected.windows) + ['note']
    assert [(r['start'], r['end'], r['emotion']) for r in records[:-1]] == \
           [(w['start'], w['end'], w['emotion']) for w in expected.windows]
    assert records[-1]['emotion'] == expected.emotion and 'uncertain' in records[-1]
    live_lines = [l for l in done.stdout.splitlines() if l[:1].isdigit()]  # the summary's lines are indented
    assert len(live_lines) == len(expected.windows)
    assert 'emotion:' in done.stdout  # the summary at the end


def test_ctrl_c_ends_with_the_summary_and_keeps_the_lines(stereo_note, tmp_path):
    path, _ = stereo_note
    out = tmp_path / 'live.jsonl'
    child = subprocess.Popen(DISTILSER + ['listen', '--file', str(path), '--realtime', '--out', str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Ctrl-C once the first window is out (each is flushed as it comes): whatever the machine's load, some speech has
    # been heard, and over a minute of the 85 s note, played at the pace of real time, has not
    deadline = time.monotonic() + 300  # only against a hang: the child's speed is not what is tested
    def heard(): return out.exists() and '"window"' in out.read_text()
    while child.poll() is None and time.monotonic() < deadline and not heard(): time.sleep(0.1)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[-1]['type'] == 'note' and records[-1]['duration'] < sf.info(path).duration
    assert records[-1]['speech_seconds'] > 0 and 'emotion:' in stdout


def test_missing_portaudio_or_sounddevice_is_one_line():
    try:
        import sounddevice  # noqa: F401
        pytest.skip('sounddevice and PortAudio are installed here: the microphone would open')
    except (ImportError, OSError) as e:
        missing = 'pip install "distilser[listen]"' if isinstance(e, ImportError) else 'apt install libportaudio2'
    done = run_cli('listen')
    assert done.returncode == 2
    (line,) = [l for l in done.stderr.splitlines() if l.startswith('distilser: error')]
    assert missing in line and len(done.stderr.strip().splitlines()) <= 2
