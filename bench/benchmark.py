"""Size, speed and memory of DistilHuBERT against wav2vec 2.0 Base: PyTorch fp32, ONNX fp32 and ONNX int8 on one CPU.

    nice .venv/bin/python bench/benchmark.py        # several minutes; or, for one exported file: distilser bench
    .venv/bin/python bench/benchmark.py --quick     # tiny configurations, 1 repeat, nothing written: seconds

Prints a Markdown table and writes it to bench/results/benchmark.md (+ .csv) for the README. Latency is the median of
interleaved runs on one 8 s window of real speech (CREMA-D sample clips end to end), with 1 and 2 threads; peak memory
is the maximum resident set of a separate process (VmHWM) that loads one model and classifies one window (ONNX
processes never import torch). ONNX int8 is distilser's export recipe (static QDQ, per channel, calibrated on CREMA-D
clips) with its guard off (floor 0), since random weights give the guard nothing to protect. Both backbones have
random weights (offline configurations): the figures are about size and speed, not accuracy. Every timing is printed
with the CPU label (model and int8 flags)."""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINDOW = 128_000  # one 8 s window at 16 kHz


def peak_memory_worker(kind, path) -> None:
    "Child process: load one model, classify one window with one thread, print the peak resident set in MB."
    import numpy as np
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, WINDOW)).astype(np.float32)
    if kind == 'torch':
        import torch
        from transformers import AutoModelForAudioClassification
        torch.set_num_threads(1)
        model = AutoModelForAudioClassification.from_pretrained(path).eval()
        with torch.inference_mode(): model(input_values=torch.from_numpy(x))
    else:
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 1
        ort.InferenceSession(path, so, providers=['CPUExecutionProvider']).run(None, {'input_values': x})
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec, VmHWM starts afresh
    hwm_kb = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))
    print(json.dumps(dict(peak_mb=hwm_kb / 1024)))


def peak_memory(kind, path) -> float:
    out = subprocess.run([sys.executable, __file__, '--worker', kind, str(path)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])['peak_mb']


def guard_off_int8(path: Path) -> bool:
    "Whether an int8 file from an earlier run is there and was written by today's export with its guard off."
    from distilser.export import read_metadata
    return path.exists() and json.loads(read_metadata(path).get('quantization', '{}')).get('floor') == 0.0


def prepare(backbone, work: Path, calibration, guard):
    """The random-weights model, its checkpoint directory and its two ONNX files (re-used when today's export wrote
    them)."""
    import warnings
    from distilser.export import export_onnx, quantize_int8
    from distilser.model import load_model
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the random-weights warning: the docstring and the table say it
        model = load_model(backbone, freeze_feature_encoder=False).eval()
    ckpt, fp32, int8 = work/'checkpoint', work/'model.onnx', work/'model.int8.onnx'
    if not (ckpt/'config.json').exists(): model.save_pretrained(ckpt)
    # floor 0: the guard off (random weights give it nothing to protect); an int8 file of an older recipe is rebuilt
    if not fp32.exists(): export_onnx(model, work, calibration, guard, floor=0.0)
    elif not guard_off_int8(int8): quantize_int8(fp32, int8, calibration, guard, floor=0.0)
    return model, ckpt, fp32, int8


def measure(name, backbone, work, window, calibration, guard, threads, repeats, label) -> list[dict]:
    "Size, latency with each thread count (PyTorch and both ONNX files interleaved) and peak memory of one backbone."
    import torch
    from distilser.export import ort_session
    from distilser.int8_speed import median_times
    from distilser.model import count_parameters
    model, ckpt, fp32, int8 = prepare(backbone, work, calibration, guard)
    x, xt = window[None], torch.from_numpy(window[None])
    variants = {'PyTorch fp32': ('torch', ckpt), 'ONNX fp32': ('onnx', fp32), 'ONNX int8': ('onnx', int8)}
    rows = {v: dict(model=name, format=v, params_m=count_parameters(model) / 1e6,
                    size_mb=(sum(f.stat().st_size for f in ckpt.glob('*.safetensors')) if k == 'torch'
                             else p.stat().st_size) / 1e6)
            for v, (k, p) in variants.items()}
    for t in threads:
        torch.set_num_threads(t)
        sessions = {v: ort_session(p, t) for v, (k, p) in variants.items() if k == 'onnx'}
        calls = {v: (lambda s=s: s.run(None, {'input_values': x})) for v, s in sessions.items()}
        with torch.inference_mode():
            calls['PyTorch fp32'] = lambda: model(input_values=xt)
            for v, sec in median_times(calls, repeats).items():
                rows[v][f'ms_{t}t'] = 1000 * sec
                print(f'{name}, {v}: {1000 * sec:.0f} ms per 8 s window with {t} thread(s) | {label}', file=sys.stderr)
    for v, (k, p) in variants.items():
        rows[v]['rtf'] = rows[v][f'ms_{max(threads)}t'] / 1000 / (WINDOW / 16000)
        rows[v]['peak_mb'] = peak_memory(k, p)
    return list(rows.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--worker', nargs=2, metavar=('KIND', 'PATH'), help=argparse.SUPPRESS)
    ap.add_argument('--repeats', type=int, default=5, help='timed runs per variant and thread count (median)')
    ap.add_argument('--work', default='runs/bench', help='where the checkpoints and ONNX files go (re-used)')
    ap.add_argument('--out', default=str(HERE/'results'/'benchmark'), help='output prefix (.md and .csv)')
    ap.add_argument('--quick', action='store_true', help='check the script in seconds: tiny configurations, 1 repeat, '
                    'nothing written')
    args = ap.parse_args(argv)
    if args.worker: return peak_memory_worker(*args.worker)
    import pandas as pd
    from distilser.export import calibration_clips, training_audio
    from distilser.int8_speed import cpu_label, speech_window
    from distilser.model import OFFLINE_DISTILHUBERT, OFFLINE_TINY, OFFLINE_WAV2VEC2_BASE
    t0, load, label = time.time(), os.getloadavg()[0], cpu_label()
    print(label, file=sys.stderr)
    audio = training_audio()  # the CREMA-D sample: real speech, preprocessed, unpadded
    calibration = calibration_clips(audio, 16, window_seconds=WINDOW / 16000)
    guard = calibration_clips(audio, 8, window_seconds=WINDOW / 16000, skip=16)
    window = speech_window(WINDOW / 16000)[0]  # real speech, exactly 8 s
    threads, repeats = (1, 2), 1 if args.quick else args.repeats
    backbones = (('DistilHuBERT', OFFLINE_DISTILHUBERT), ('wav2vec 2.0 Base', OFFLINE_WAV2VEC2_BASE))
    if args.quick: backbones = (('DistilHuBERT', OFFLINE_TINY), ('wav2vec 2.0 Base', OFFLINE_TINY))
    work = Path(args.work + ('_quick' if args.quick else ''))
    rows = []
    for i, (name, backbone) in enumerate(backbones):
        rows += measure(name, backbone, work/f'{i}_{backbone.split(":")[1]}', window, calibration, guard, threads,
                        repeats, label)
        print(f'{name}: measured ({time.time() - t0:.0f} s)', file=sys.stderr)
    df = pd.DataFrame(rows)
    ref = df[(df.model == 'DistilHuBERT') & (df.format == 'ONNX int8')].iloc[0]
    df['x_size'] = df.size_mb / ref.size_mb
    df['x_latency_2t'] = df.ms_2t / ref.ms_2t
    digits = dict(params_m=1, size_mb=1, ms_1t=0, ms_2t=0, rtf=3, peak_mb=0, x_size=2, x_latency_2t=2)
    note = (f"One 8 s window of real speech; latency = median of {repeats} interleaved runs; rtf = latency / 8 s "
            "with 2 threads; peak_mb = peak resident memory of a process that loads the model and classifies one "
            "window (1 thread); x_ columns are ratios to DistilHuBERT ONNX int8 (static QDQ per channel, guard off). "
            f"Random weights (offline configurations): size and speed only, not a result of the method. "
            f"CPU: {label}, load average {load:.1f} at the start; "
            f"{time.strftime('%Y-%m-%d')}; total {time.time() - t0:.0f} s.")
    md = df.round(digits).to_markdown(index=False) + '\n\n' + note + '\n'
    if args.quick: return print(md)
    out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix('.csv'), index=False)
    out.with_suffix('.md').write_text(md)
    print(md)


if __name__ == '__main__': sys.exit(main())
