"""Which operators of DistilHuBERT to quantise, and how: size, speed and agreement of int8 variants (full architecture).

Writes bench/results/quant_study.csv and .md, and quant_study_ops.md (time per operator type), which
nbs/07_export.ipynb shows. Run with `nice`, on an otherwise idle CPU if you can: `.venv/bin/python bench/quant_study.py`
(a few minutes). The weights are random unless --checkpoint is given."""
import argparse, os, sys, time, warnings
from pathlib import Path

import pandas as pd

from distilser.data import full_ravdess_root, ravdess_manifest, sample_ravdess_root
from distilser.export import (VARIANTS, calibration_windows, export_fp32, markdown_table, model_metadata, operator_times,
                              quantization_study, write_metadata)
from distilser.model import OFFLINE_DISTILHUBERT, is_random_weights, load_model
from benchmark import cpu_name

HERE = Path(__file__).resolve().parent
STUDY_FORMAT = dict(size_mb='.2f', ms_1t='.0f', ms_2t='.0f', ratio_1t='.2f', ratio_2t='.2f', agreement='.3f', max_prob_diff='.4f', signal_corr='.3f')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--checkpoint', default=OFFLINE_DISTILHUBERT, help='trained checkpoint dir (default: random weights)')
    ap.add_argument('--clips', type=int, default=48, help='real RAVDESS clips for the agreement figures')
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--work', default='runs/quant_study', help='where the ONNX files go')
    ap.add_argument('--out', default=str(HERE/'results'/'quant_study'))
    args = ap.parse_args(argv)
    t0, load = time.time(), os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = load_model(args.checkpoint, freeze_feature_encoder=False)
    work = Path(args.work); work.mkdir(parents=True, exist_ok=True)
    fp32 = write_metadata(export_fp32(model, work/'model.onnx'), model_metadata(model))
    # calibration on the committed subset (actors 1-8), agreement measured on other actors of the full corpus
    root = full_ravdess_root()
    df = ravdess_manifest(root) if root else ravdess_manifest(sample_ravdess_root())
    if root: df = df[~df.speaker.isin([f'Actor_{i:02d}' for i in range(1, 9)])]
    windows = calibration_windows(df, n=args.clips, seed=1)
    table = quantization_study(fp32, windows, work, repeats=args.repeats)
    weights = 'random weights (offline configuration), not a result of the method' if is_random_weights(model) else args.checkpoint
    machine = f"CPU: {cpu_name()}, {os.cpu_count()} cores, load average {load:.1f} at the start; {time.strftime('%Y-%m-%d')}."
    note = (f"DistilHuBERT architecture, {weights}. One 8 s window, median of {args.repeats} interleaved runs; "
            f"agreement and max probability difference against fp32 ONNX on {len(windows)} real RAVDESS clips. {machine}")
    out = Path(args.out)
    write_study(table, note, out)
    ops = operator_table(work, fp32, windows[:1])
    ops_md = markdown_table(ops, {c: '.1f' for c in ops.columns})
    out.with_name(out.name + '_ops.md').write_text(
        ops_md + '\n\nMilliseconds per 8 s window in each operator type (onnxruntime profiler, 1 thread, mean of 3 calls after a '
        f'warm-up), operators under 2 ms left out. DistilHuBERT architecture, {weights}. {machine}\n')
    print(ops_md, f'\n({time.time() - t0:.0f} s)')

def write_study(table, note, out: Path):
    "The study table as `out`.csv and as Markdown with its note in `out`.md; prints the Markdown."
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix('.csv'))
    md = markdown_table(table, STUDY_FORMAT)
    out.with_suffix('.md').write_text(md + '\n\n' + note + '\n')
    print(md, '\n', note)

def operator_table(work, fp32, x) -> pd.DataFrame:
    "Time per operator type of fp32 ONNX and each int8 variant (quantization_study's files, in VARIANTS order)."
    files = {'fp32': fp32, **{name: work/f'variant{i}.onnx' for i, name in enumerate(VARIANTS)}}
    table = pd.concat({name: operator_times(path, x) for name, path in files.items()}, axis=1).fillna(0.0)
    table = table[table.max(axis=1) >= 2.0]
    table.loc['total'] = table.sum()
    return table.rename_axis('operator')

if __name__ == '__main__': sys.exit(main())
