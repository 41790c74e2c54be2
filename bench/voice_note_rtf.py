"""Speed and memory of the voice-note pipeline (`distilser analyze`), with the full DistilHuBERT architecture.

    .venv/bin/python bench/voice_note_rtf.py [--minutes 5] [--threads 2] [--memory]

Builds (once, cached in --work) the int8 ONNX model of the full DistilHuBERT architecture with random weights
(`offline:distilhubert`: speed does not depend on the weights) and a voice note of real RAVDESS sentences with short
pauses, then times `analyze_file` on it and prints the real-time factor (processing seconds per second of audio;
the target is <= 0.05 on 2 threads). With --memory it also writes a one-hour note (mostly silence) and prints the
peak resident memory of `distilser analyze` on it, next to what the audio alone would take held in memory.
Writes bench/results/voice_note_rtf.md with the CPU's flags and load beside the figures.
"""
import argparse, os, subprocess, sys, tempfile, time, warnings
from datetime import date
from pathlib import Path

import soundfile as sf

from distilser.data import ravdess_manifest, sample_ravdess_root
from distilser.data import REPO_ROOT
from distilser.export import OnnxClassifier, export_onnx
from distilser.int8_speed import cpu_label
from distilser.model import OFFLINE_DISTILHUBERT, load_model
from distilser.pipeline import analyze_file, make_voice_note, StreamingVAD

def build_model(work: Path, backbone: str) -> Path:
    "The int8 ONNX model of `backbone`, exported once into `work`."
    out = work / backbone.replace(':', '_')
    if not (out / 'model.int8.onnx').exists():
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # random weights: fine for timing, and said in the output
            export_onnx(load_model(backbone), out, floor=0.0)  # random weights: the guard has nothing to protect
    return out / 'model.int8.onnx'

def build_note(path: Path, minutes: float, gap: float = 0.5) -> Path:
    "A note of about `minutes` minutes: RAVDESS sentences of the committed subset, `gap` s apart, cycled as needed."
    if not path.exists():
        clips = ravdess_manifest(sample_ravdess_root()).path.tolist()
        n = int(minutes * 60 / (sf.info(clips[0]).duration + gap)) + 1
        make_voice_note([clips[i % len(clips)] for i in range(n)], gap, path)
    return path

def peak_memory_mb(args) -> float:
    "Peak resident memory (MB) of `distilser analyze ARGS`, measured by the child itself (bench/peak_memory.py)."
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / 'peak_kb'
        done = subprocess.run([sys.executable, Path(__file__).with_name('peak_memory.py'), peak, 'analyze',
                               *map(str, args)], capture_output=True, text=True)
        if done.returncode != 0: sys.exit(f'distilser analyze {args} failed:\n{done.stderr}')
        return int(peak.read_text()) / 1024

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--minutes', type=float, default=5.0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--backbone', default=OFFLINE_DISTILHUBERT)
    p.add_argument('--work', type=Path, default=Path('runs/bench/voice_note'))
    p.add_argument('--memory', action='store_true', help='also measure peak memory on a one-hour note')
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model_path = build_model(args.work, args.backbone)
    note = build_note(args.work / f'note_{args.minutes:g}min.flac', args.minutes)

    model, vad = OnnxClassifier(model_path, num_threads=args.threads), StreamingVAD()
    analyze_file(note, model, vad=vad, progress=False)  # warm-up: first-call allocations are not the steady state
    start, cpu_start = time.perf_counter(), time.process_time()
    result = analyze_file(note, model, vad=vad, progress=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f'model: {model_path} ({model_path.stat().st_size / 2**20:.1f} MB, {args.backbone}, random weights)')
    print(f'note: {note} ({result.duration:.1f} s of audio, {result.speech_seconds:.1f} s of speech, '
          f'{len(result.windows)} windows)')
    print(f'analyze_file: {seconds:.2f} s on {args.threads} threads -> real-time factor '
          f'{seconds / result.duration:.4f} (target <= 0.05; {seconds / result.speech_seconds:.4f} per second of '
          f'speech)')
    print(f'CPU time: {cpu:.2f} s -> {cpu / args.threads / result.duration:.4f} real-time factor if {args.threads} '
          f'cores were free for it (wall time above includes waiting for a shared CPU)')

    load = os.getloadavg()[0]
    rows = [f'| {result.duration:.1f} s (RAVDESS clips with pauses) | {result.speech_seconds:.1f} s | '
            f'{len(result.windows)} | {args.backbone} int8 ONNX, {model_path.stat().st_size / 2**20:.1f} MB | '
            f'{args.threads} | {seconds:.2f} s | {seconds / result.duration:.4f} | '
            f'{seconds / result.speech_seconds:.4f} |']
    memory = ''
    if args.memory:
        hour = args.work / 'hour.flac'
        if not hour.exists():
            clips = ravdess_manifest(sample_ravdess_root()).groupby('label').head(1).path.tolist()
            make_voice_note(clips, 720.0, hour)  # 4 sentences in an hour of silence, written block by block
        info = sf.info(hour)
        short = build_note(args.work / 'note_0.5min.flac', 0.5)
        base, peak = (peak_memory_mb([f, '--model', model_path, '--threads', str(args.threads)]) for f in (short, hour))
        memory = (f'Peak resident memory of `distilser analyze` with the same model: {peak:.0f} MB on a '
                  f'{info.duration / 3600:.2f} h file, {base:.0f} MB on a 30 s note (the hour as float32 would be '
                  f'{info.frames * 4 / 2**20:.0f} MB).\n\n')
        print(memory.strip())
    text = ('# Voice-note pipeline speed\n\n| note | speech | windows | model | threads | wall time | '
            'real-time factor | per second of speech |\n|---|---|---|---|---|---|---|---|\n' + '\n'.join(rows)
            + '\n\n' + memory +
            '`distilser.pipeline.analyze_file` end to end (streamed reading, silero VAD through ONNX Runtime, the '
            'model\'s windows, int8 model, averaging); target: real-time factor <= 0.05. Random weights (offline '
            f'configuration): speed and memory only, not a result of the method. CPU: {cpu_label()}, load average '
            f'{load:.1f}; {date.today()}, `.venv/bin/python bench/voice_note_rtf.py --minutes {args.minutes:g} '
            f'--threads {args.threads}{" --memory" if args.memory else ""}`.\n')
    (REPO_ROOT/'bench'/'results'/'voice_note_rtf.md').write_text(text)

if __name__ == '__main__': main()
