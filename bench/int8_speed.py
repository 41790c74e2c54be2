"""Int8 on this CPU: speed and size of distilser's int8 recipes on the full DistilHuBERT architecture, and of the
shipped default model.

    nice .venv/bin/python bench/int8_speed.py        # on an otherwise idle CPU if you can; the note records the time

Builds the DistilHuBERT architecture with random weights (offline configuration, 8 s window), exports it to fp32 ONNX,
builds every int8 recipe of `distilser.int8_speed.VARIANTS` from that one file (the guard off: random weights), and
times fp32 and every variant interleaved in one run on one 8 s window of real speech (CREMA-D sample clips end to end)
with 1 and 2 threads, median of --repeats. Then the same comparison for the shipped default model (the model.onnx it
runs against the guarded model.int8.onnx beside it, one 4 s window). Writes bench/results/int8_speed.md and .csv, and int8_speed_ops.md (time
per operator type of fp32 and the default recipe, 1 thread), which nbs/07a_int8_speed.ipynb shows.

Targets (issue): int8 <= 0.45 x the fp32 ONNX latency on a CPU with int8 dot products (VNNI), <= 0.9 x on AVX2 only;
int8 file <= 24.5 MB. Random weights: speed and size only, not a result of the method."""
import argparse, os, sys, time, warnings
from pathlib import Path

import pandas as pd

from distilser.export import (calibration_clips, shipped_model_path, export_fp32, model_metadata, training_audio,
                              write_metadata)
from distilser.int8_speed import (DEFAULT_VARIANT, FP32, compare_models, cpu_flags, cpu_label, int8_dot_product,
                                  operator_times, quantization_study, speech_window)
from distilser.model import OFFLINE_DISTILHUBERT, count_parameters, load_model
from distilser.preprocessing import input_contract

HERE = Path(__file__).resolve().parent
TARGET_SIZE_MB = 24.5
TARGET_RATIO = {True: 0.45, False: 0.9}  # keyed by: does the CPU have an int8 dot product (VNNI)?
DIGITS = dict(size_mb=2, agreement=3, max_prob_diff=4, ms_1t=1, ratio_1t=2, ms_2t=1, ratio_2t=2)
RANDOM = 'random weights (offline configuration): speed and size only, not a result of the method'


def random_fp32(backbone: str, work: Path) -> tuple[Path, float]:
    """An offline architecture with random weights and an 8 s input contract, exported to fp32 ONNX; millions of
    parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the random-weights warning: every table here says it
        model = load_model(backbone, freeze_feature_encoder=False).eval()
    model.config.update(dict(distilser_preprocessing=input_contract(8.0)))
    return write_metadata(export_fp32(model, work/'model.onnx'), model_metadata(model)), count_parameters(model) / 1e6


def targets(table: pd.DataFrame, flags: dict, threads) -> list[str]:
    "One line per target of the issue for the default recipe, saying whether it holds on this CPU."
    dot, row = int8_dot_product(flags), table.loc[DEFAULT_VARIANT]
    bound = TARGET_RATIO[bool(dot)]
    cpu = {True: 'a CPU with int8 dot products (VNNI)', False: 'an AVX2-only CPU',
           None: 'a CPU whose flags are unknown (judged as AVX2-only)'}[dot]
    holds = lambda ok: 'holds' if ok else 'does NOT hold'
    lines = [f"target: int8 <= {bound} x fp32 ONNX latency on {cpu}, {t} thread(s): {row[f'ratio_{t}t']:.2f} x, "
             f"{holds(row[f'ratio_{t}t'] <= bound)}" for t in threads]
    lines.append(f'target: int8 file <= {TARGET_SIZE_MB} MB: {row.size_mb:.2f} MB, '
                 f'{holds(row.size_mb <= TARGET_SIZE_MB)}')
    return lines


def timing_lines(table: pd.DataFrame, threads, label: str) -> list[str]:
    "Each variant's latencies and ratios on one line, with the CPU label beside them."
    return [f"{name}: " + ', '.join(f"{row[f'ms_{t}t']:.1f} ms ({row[f'ratio_{t}t']:.2f} x fp32) with {t} thread(s)"
                                    for t in threads) + f' | {label}' for name, row in table.iterrows()]


def operator_table(fp32: Path, int8: Path, x) -> pd.DataFrame:
    "Milliseconds per window in each operator type of fp32 and the default int8 recipe (1 thread); under 1 ms left out."
    table = pd.concat({FP32: operator_times(fp32, x), DEFAULT_VARIANT: operator_times(int8, x)}, axis=1).fillna(0.0)
    total = table.sum()
    table = table[table.max(axis=1) >= 1.0]
    table.loc['total (every operator)'] = total
    return table.rename_axis('operator').round(1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--repeats', type=int, default=7, help='timed runs per model and thread count (median; default 7)')
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='thread counts (default 1 2)')
    ap.add_argument('--clips', type=int, default=16, help='CREMA-D clips for calibration, and as many for agreement')
    ap.add_argument('--backbone', default=OFFLINE_DISTILHUBERT,
                    help='offline configuration (default: the full DistilHuBERT; offline:tiny checks the script in '
                         'seconds)')
    ap.add_argument('--work', default='runs/int8_speed', help='where the ONNX files go')
    ap.add_argument('--out', default=str(HERE/'results'/'int8_speed'), help='output prefix (.md, .csv, _ops.md)')
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = ' '.join(['nice .venv/bin/python bench/int8_speed.py', *argv])
    t0, load, flags = time.time(), os.getloadavg()[0], cpu_flags()
    label, threads = cpu_label(flags), tuple(args.threads)
    name = 'DistilHuBERT' if args.backbone == OFFLINE_DISTILHUBERT else args.backbone
    print(label, file=sys.stderr)
    work = Path(args.work); work.mkdir(parents=True, exist_ok=True)
    audio = training_audio()  # the CREMA-D sample: real speech, preprocessed, unpadded

    # the full architecture (by default): every recipe from one fp32 file, timed interleaved on one 8 s window
    fp32, params = random_fp32(args.backbone, work)
    calibration = calibration_clips(audio, args.clips, window_seconds=8.0)
    clips = calibration_clips(audio, args.clips, window_seconds=8.0, skip=args.clips)
    table = quantization_study(fp32, clips, calibration, threads, args.repeats, out_dir=work)
    print('\n'.join(timing_lines(table, threads, label)), f'({time.time() - t0:.0f} s)', file=sys.stderr)
    goals = targets(table, flags, threads)

    # the shipped default model: its int8 file against the fp32 file it runs, on one 4 s window
    shipped = shipped_model_path("cremad-melcnn-v2")  # the CNN the int8 recipes were measured on
    default = compare_models({'fp32 (model.onnx, runs)': shipped.with_name('model.onnx'),
                              'int8 (model.int8.onnx, guarded)': shipped.with_name('model.int8.onnx')},
                             calibration_clips(audio, args.clips, window_seconds=4.0, skip=args.clips), threads,
                             args.repeats)
    print('\n'.join(timing_lines(default, threads, label)), file=sys.stderr)

    # where the time goes: one thread, fp32 against the default recipe
    ops = operator_table(fp32, work/'default_int8.onnx', speech_window(8.0, clips))

    date = time.strftime('%Y-%m-%d')
    machine = (f'CPU: {label}; load average {load:.1f} at the start; {date}; `{command}`, '
               f'{time.time() - t0:.0f} s in all.')
    timing = (f'latency = median of {args.repeats} interleaved runs of every file, each after 0.1 s untimed so '
              'that the other sessions\' threads stop spinning (`median_times`), ratio = latency / fp32 ONNX latency '
              'in the same run')
    md = '\n\n'.join([
        f'**{name} architecture ({params:.3g} M parameters): int8 recipes against fp32 ONNX**',
        table.round(DIGITS).to_markdown(),
        '\n'.join(f'- {g}' for g in goals),
        f'One 8 s window of real speech (CREMA-D sample clips end to end); {timing}; agreement and max_prob_diff '
        f'against fp32 ONNX on {len(clips)} other CREMA-D clips; calibration on {len(calibration)} CREMA-D clips. '
        f'{RANDOM[0].upper()}{RANDOM[1:]}. {machine}',
        f'**The shipped default model ({shipped.parent.name}, trained on CREMA-D): its int8 file against the fp32 file it runs**',
        default.round(DIGITS).to_markdown(),
        f"One 4 s window of real speech; {timing}; agreement against fp32 ONNX on {len(clips)} CREMA-D clips (the "
        f"int8 file keeps in float what its guard chose; see its metadata). {machine}"]) + '\n'
    out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.md').write_text(md)
    pd.concat({f'{name} architecture (random weights)': table, f'default model {shipped.parent.name}': default},
              names=['model']).to_csv(out.with_suffix('.csv'))
    ops_md = (ops.to_markdown() + '\n\nMilliseconds per 8 s window in each operator type (onnxruntime profiler, '
              '1 thread, mean of 3 calls after a warm-up); operator types under 1 ms in both columns left out, the '
              f'total counts them. {name} architecture, {RANDOM}. {machine}\n')
    out.with_name(out.name + '_ops.md').write_text(ops_md)
    print(md, '\n', ops_md)


if __name__ == '__main__': sys.exit(main())
