"""ExecuTorch (XNNPACK backend) against ONNX Runtime, with the functions of `distilser export --format pte`.

    nice .venv/bin/python bench/executorch_pte.py    # on an otherwise idle CPU if you can; the note says the load

Needs the `pte` extra (`pip install -e ".[train,pte]"`, which `make setup` installs): ExecuTorch 1.5.1 and torchao.

What it does, for two models loaded with distilser's own code:
- the full DistilHuBERT architecture with random weights (`offline:distilhubert`, 8 s window), speed and size only, as
  in bench/int8_speed.py: fp32 ONNX and the project's int8 ONNX (`export_onnx`, guard off), calibrated on --clips
  CREMA-D sample clips, agreement on as many others;
- the shipped default model (models/cremad-melcnn-v2, 4 s window): its model.onnx and model.int8.onnx, and pte files
  calibrated and checked as `distilser export` does (`calibration_and_guard(training_audio(model))`: 256 training clips
  to calibrate, 512 others as the guard, floor 99.5 %), plus all four-class RAVDESS clips when a RAVDESS root is found.
Each model goes through `torch.export` and `to_edge_transform_and_lower(..., XnnpackPartitioner())` as fp32 and as
static int8 via PT2E (`XNNPACKQuantizer`, per-channel symmetric int8 weights, int8 activations, the first convolution in
float): (1) XNNPACKQuantizer as documented (every op it supports, histogram observer); (2) Conv and Linear only with
min/max ranges (the ONNX recipe); (3) for the default model, (2) with the modules `distilser export --format pte` keeps
in float (`distilser.pte.export_pte`: its guard measures lowered programs; the any-length row is its
model.int8.pte). Every program is written twice: for any length up to the window
(unpadded clips, what `distilser analyze` feeds) and for exactly one window. All files are timed interleaved in one run
on one window of real speech (ExecuTorch's Python runtime with its thread pool set to 1 and 2 threads, onnxruntime
sessions with as many), median of --repeats (x5 for the millisecond-scale default model); ratio = latency / fp32 ONNX
latency in the same run. Writes bench/results/executorch_pte.md; ~15 min on 2 busy cores.
"""
import argparse, json, os, re, sys, tempfile, time, traceback, warnings
from pathlib import Path

warnings.simplefilter('ignore')  # torch.export, torchao and transformers warnings that do not change what is measured
import numpy as np
import pandas as pd
import torch

from distilser.data import full_ravdess_root, ravdess_manifest
from distilser.export import (OnnxClassifier, agreement, calibration_and_guard, calibration_clips, shipped_model_path,
                              export_onnx, model_metadata, ort_session, training_audio, GUARD_FLOOR, MAX_FLOAT)
from distilser.int8_speed import cpu_label, median_times, speech_window
from distilser.model import OFFLINE_DISTILHUBERT, count_parameters, load_model
from distilser.preprocessing import input_contract, load_clip
from distilser.pte import PteClassifier, export_pte, lower_to_xnnpack, pt2e_int8, sidecar, traced_logits

HERE = Path(__file__).resolve().parent
RANDOM = 'random weights (offline configuration): speed and size only, not a result of the method'
ONNX_FP32, ONNX_INT8 = 'ONNX fp32 (reference)', 'ONNX int8 (distilser export)'
PTE_FP32, PTE_INT8_ALL = 'pte fp32', 'pte int8 XNNPACKQuantizer default'
PTE_INT8, PTE_INT8_GUARD = 'pte int8 Conv+Linear min/max', 'pte int8 Conv+Linear min/max, guarded'
DIGITS = dict(size_mb=2, export_s=0, agreement=3, max_prob_diff=4, ravdess_agreement=3,
              ravdess_ua=3,
              ravdess_ua_change_points=2, ms_1t=1, ratio_1t=2, ms_2t=1, ratio_2t=2)
COLUMNS = ['size_mb', 'export_s', 'float_layers', 'agreement', 'max_prob_diff',
           'ms_1t', 'ratio_1t', 'ms_2t', 'ratio_2t', 'ravdess_agreement',
           'ravdess_ua', 'ravdess_ua_change_points', 'delegated', 'not_delegated', 'outside', 'error']


def set_et_threads(n: int):
    "Size ExecuTorch's thread pool (used by the XNNPACK delegate); load methods after this."
    from executorch.extension.pybindings import portable_lib
    portable_lib._unsafe_reset_threadpool(n)
    return portable_lib._threadpool_get_thread_count()


def classifier(path): return PteClassifier(path) if str(path).endswith('.pte') else OnnxClassifier(path)


RECIPES = {PTE_FP32: dict(), PTE_INT8_ALL: dict(weighted_only=False, minmax=False), PTE_INT8: dict(),
           PTE_INT8_GUARD: dict(guard=True)}
ANY, FIXED = 'any length', 'fixed window'

def build_ptes(model, work: Path, window: float, calibration, guard=None, floor=0.0) -> tuple[dict, dict]:
    """Export each pte recipe, for any length and for exactly one window; `{name: path}` of those written and
    `{name: row fields}` (export time, delegation, float layers, or the error). The guarded recipe only when
    `floor` > 0."""
    paths, rows = {}, {}
    work.mkdir(parents=True, exist_ok=True)
    for recipe, how in RECIPES.items():
        if how.get('guard') and not floor: continue
        names = {kind: f'{recipe}, {kind}' for kind in (ANY, FIXED)}
        files = {kind: work/(re.sub(r'[^A-Za-z0-9]+', '_', recipe) + f'_{kind.split()[0]}.pte')
                 for kind in (ANY, FIXED)}
        t, extra = time.time(), {}
        try:
            traced, keep = traced_logits(model, window), []
            if how.get('guard'):  # exactly what `distilser export --format pte` writes, and its choice of modules
                _, exported = export_pte(model, work/'exported', calibration, guard, floor=floor, progress=False)
                record = json.loads(PteClassifier(exported).metadata['quantization'])
                keep = record['kept_float']
                extra = dict(float_layers=', '.join(k.removeprefix('model.') for k in keep) or 'none')
            options = {k: v for k, v in how.items() if k != 'guard'}
            module = traced[0] if recipe == PTE_FP32 else pt2e_int8(*traced, calibration, keep, **options)
            info = {files[ANY]: lower_to_xnnpack(module, traced[1], traced[2], files[ANY]),
                    files[FIXED]: lower_to_xnnpack(module, traced[1], None, files[FIXED])}
            for kind in (ANY, FIXED): sidecar(files[kind]).write_text(json.dumps(model_metadata(model)))
            for kind in (ANY, FIXED):
                outside = ', '.join(f'{op} x{n}' for op, n in info[files[kind]]['outside'].items())
                rows[names[kind]] = dict(delegated=info[files[kind]]['delegated'],
                                         not_delegated=sum(info[files[kind]]['outside'].values()), outside=outside)
                rows[names[kind]] |= extra | dict(export_s=time.time() - t)
                paths[names[kind]] = files[kind]
            print(f'{recipe}: {files[ANY].name} and {files[FIXED].name} in {time.time() - t:.0f} s, {info} {extra}',
                  file=sys.stderr)
        except Exception as e:  # a measured reason why not: keep the error, go on with the others
            for kind in (ANY, FIXED):
                reason = str(e).strip().splitlines()[-1][:300] if str(e).strip() else ''
                rows[names[kind]] = dict(export_s=time.time() - t, error=f'{type(e).__name__}: {reason}')
            print(f'{recipe}: FAILED\n{traceback.format_exc()}', file=sys.stderr)
    return paths, rows


def time_all(paths: dict, x: np.ndarray, threads, repeats: int) -> dict:
    "`{name: {ms_Nt, ratio_Nt}}`: every file timed interleaved on `x`, ratio to the first (ONNX fp32) in the same run."
    out = {name: {} for name in paths}
    for t in threads:
        et_threads = set_et_threads(t)
        calls = {}
        for name, path in paths.items():
            if str(path).endswith('.pte'):
                m, xt = PteClassifier(path).method, torch.from_numpy(x)
                calls[name] = lambda m=m, xt=xt: m.execute([xt])
            else:
                s = ort_session(path, t)
                calls[name] = lambda s=s: s.run(None, {'input_values': x})
        seconds = median_times(calls, repeats)
        first = seconds[next(iter(paths))]
        for name in paths: out[name] |= {f'ms_{t}t': 1000 * seconds[name], f'ratio_{t}t': seconds[name] / first}
        print(f'{t} thread(s) (ExecuTorch pool: {et_threads}): '
              + ', '.join(f'{k} {1000 * v:.1f} ms' for k, v in seconds.items()),
              file=sys.stderr)
    return out


def ravdess_check(paths: dict, root, window: float) -> dict:
    "`{name: {ravdess_agreement, ravdess_ua_change_points}}` against ONNX fp32 on all four-class RAVDESS clips."
    manifest = ravdess_manifest(root)
    clips = [load_clip(p, window) for p in manifest.path]
    labels = OnnxClassifier(paths[ONNX_FP32]).labels
    truth = manifest.label.map({l: i for i, l in enumerate(labels)}).to_numpy()
    ua = lambda pred: float(np.mean([np.mean(pred[truth == k] == k) for k in np.unique(truth)]))
    preds = {name: classifier(path).clip_logits(clips).argmax(1) for name, path in paths.items()}
    ref = preds[ONNX_FP32]
    return {name: dict(ravdess_agreement=float(np.mean(p == ref)), ravdess_ua_change_points=100 * (ua(p) - ua(ref)),
                       ravdess_ua=ua(p)) for name, p in preds.items()}, len(clips)


def study(name, paths: dict, rows: dict, clips, threads, repeats, window, ravdess=None) -> pd.DataFrame:
    "One model's table: size, export time, delegation, agreement with ONNX fp32 on `clips`, latency."
    filled = [speech_window(window, [c])[0] for c in clips]  # each clip repeated to one window: for fixed-window files
    reference = {False: OnnxClassifier(paths[ONNX_FP32]).clip_logits(clips),
                 True: OnnxClassifier(paths[ONNX_FP32]).clip_logits(filled)}
    for k, path in paths.items():
        fixed = k.endswith(FIXED)
        a = agreement(reference[fixed], classifier(path), filled if fixed else clips)
        rows.setdefault(k, {}).update(size_mb=Path(path).stat().st_size / 1e6, agreement=a['agreement'],
                                      max_prob_diff=a['max_prob_diff'])
    for k, v in time_all(paths, speech_window(window, clips), threads, repeats).items(): rows[k].update(v)
    if ravdess:
        checked, n = ravdess_check({k: p for k, p in paths.items() if not k.endswith(FIXED)}, ravdess, window)
        for k, v in checked.items(): rows[k].update(v)
    names = [ONNX_FP32, ONNX_INT8] + [f'{r}, {kind}' for r in RECIPES for kind in (ANY, FIXED)]
    order = [k for k in names if k in rows]
    table = pd.DataFrame([dict(variant=k, **rows[k]) for k in order]).set_index('variant')
    return table[[c for c in COLUMNS if c in table]]


def shown(table: pd.DataFrame) -> str:
    "The table in markdown without the long columns, then one line per pte file: the ops outside XNNPACK, or its error."
    long = [c for c in ('outside', 'error') if c in table]
    lines = [f'- {k}: ' + (f'FAILED: {r.error}' if isinstance(r.get('error'), str) else
                           f'outside the XNNPACK delegate (portable kernels): {r.outside or "nothing"}')
             for k, r in table.iterrows() if k.startswith('pte')]
    return table.drop(columns=long).round(DIGITS).to_markdown() + '\n\n' + '\n'.join(lines)


def caveats(table: pd.DataFrame, threads) -> list[str]:
    "Generated warnings about what a table can and cannot say on this machine."
    lines = []
    fp32 = table.loc[ONNX_FP32]
    if 1 in threads and 2 in threads and fp32.ms_2t > fp32.ms_1t:
        lines.append(f'- caution: ONNX fp32 took longer with 2 threads ({fp32.ms_2t:.1f} ms) than with 1 '
                     f'({fp32.ms_1t:.1f} ms): the cores were shared during this run, read the 2-thread columns as '
                     'noise')
    outside = table.get('outside', pd.Series(dtype=object)).dropna()
    if any('max_pool2d' in o for k, o in outside.items() if k.endswith(ANY)):
        lines.append('- any length: the ceil-mode max pools run outside XNNPACK (its partitioner: "ceil mode is not '
                     'supported for dynamic shapes"), on portable kernels; the fixed-window program delegates them')
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--repeats', type=int, default=7, help='timed runs per file and thread count (median; default 7)')
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='thread counts (default 1 2)')
    ap.add_argument('--clips', type=int, default=16,
                    help='CREMA-D sample clips for the random model: calibration, and as many for agreement')
    ap.add_argument('--backbone', default=OFFLINE_DISTILHUBERT,
                    help='offline configuration for the speed study (offline:tiny checks the script)')
    ap.add_argument('--ravdess', default=None,
                    help='RAVDESS root for the default model (default: distilser.data.full_ravdess_root())')
    ap.add_argument('--skip-default', action='store_true', help='only the random-weights architecture')
    ap.add_argument('--work', default=None, help='where the ONNX and pte files go (default: a temporary folder)')
    ap.add_argument('--out', default=str(HERE/'results'/'executorch_pte.md'))
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = ' '.join(['nice .venv/bin/python bench/executorch_pte.py', *argv])
    import executorch.version, torchao
    versions = (f'torch {torch.__version__}, executorch {executorch.version.__version__}, '
                f'torchao {torchao.__version__}, '
                f'onnxruntime {__import__("onnxruntime").__version__}')
    t0, load, label, threads = time.time(), os.getloadavg()[0], cpu_label(), tuple(args.threads)
    print(label, '|', versions, file=sys.stderr)
    tmp = tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name); work.mkdir(parents=True, exist_ok=True)
    sections = []
    timing = (f'latency = median of {args.repeats} interleaved runs of every file on one window of real speech '
              f'(CREMA-D clips end to end), ratio = latency / ONNX fp32 latency in the same run; ExecuTorch through '
              f'its '
              f'Python runtime (`executorch.runtime`), its thread pool reset to the thread count. "{ANY}": exported '
              f'with a dynamic length (25 ms up to the window), run on unpadded clips; "{FIXED}": the same program '
              f'exported for exactly one window (XNNPACK delegates more of it), its agreement measured on the same '
              f'clips each repeated to fill one window, against ONNX fp32 on those inputs. "{PTE_INT8_ALL}": '
              f'XNNPACKQuantizer as its documentation sets it up (every op it supports: Conv, Linear, add, mul, cat, '
              f'pools; '
              f'histogram activation observer); "{PTE_INT8}": only Conv and Linear quantised, min/max activation '
              f'ranges (the ONNX recipe); "guarded": what `distilser export --format pte` writes (`export_pte`): '
              f'the same, with the Conv/Linear modules kept in float that its guard picks (each trial a lowered '
              f'program run by ExecuTorch, agreement with PyTorch fp32 on the guard clips; floor {GUARD_FLOOR:.1%}, '
              f'at most {MAX_FLOAT}). All per-channel '
              f'symmetric int8 weights, int8 activations, static, the first conv in float')

    # 1. the full architecture, random weights: speed and size
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = load_model(args.backbone, freeze_feature_encoder=False).eval()
    model.config.update(dict(distilser_preprocessing=input_contract(8.0)))
    audio = training_audio()  # the CREMA-D sample
    calibration = calibration_clips(audio, args.clips, window_seconds=8.0)
    clips = calibration_clips(audio, args.clips, window_seconds=8.0, skip=args.clips)
    t = time.time()
    fp32, int8 = export_onnx(model, work/'random', calibration, clips, floor=0.0)
    rows = {ONNX_FP32: dict(export_s=0.0), ONNX_INT8: dict(export_s=time.time() - t)}
    ptes, pte_rows = build_ptes(model, work/'random', 8.0, calibration)
    name = 'DistilHuBERT' if args.backbone == OFFLINE_DISTILHUBERT else args.backbone
    random_table = study(name, {ONNX_FP32: fp32, ONNX_INT8: int8} | ptes, rows | pte_rows, clips, threads,
                         args.repeats, 8.0)
    print(shown(random_table), file=sys.stderr)
    machine = (f'CPU: {label}; {versions}; load average {load:.1f} at the start; {time.strftime("%Y-%m-%d")}; '
               f'`{command}`')
    sections += [f'**{name} architecture ({count_parameters(model) / 1e6:.3g} M parameters, {RANDOM}): ExecuTorch '
                 f'XNNPACK against ONNX Runtime, one 8 s window**', shown(random_table),
                 '\n'.join(caveats(random_table, threads)),
                 f'{timing}. Agreement and max_prob_diff against ONNX fp32 on {len(clips)} other CREMA-D sample clips '
                 f'(unpadded); calibration (ONNX int8 and PT2E alike) on {len(calibration)} CREMA-D sample clips. '
                 f'export_s: seconds to export and lower (ONNX int8: fp32 export + quantisation). delegated / '
                 f'not_delegated: ATen operators inside / outside the XNNPACK delegate. {machine}.']

    # 2. the shipped default model, calibrated and checked as `distilser export` does
    if not args.skip_default:
        shipped = shipped_model_path("cremad-melcnn-v2").parent  # the CNN (ExecuTorch runs its checkpoint)
        model = load_model(shipped/'checkpoint', freeze_feature_encoder=False).eval()
        window = float(model.config.distilser_preprocessing['window_seconds'])
        audio = training_audio(model)
        calibration, guard = calibration_and_guard(audio, window_seconds=window)
        ptes, pte_rows = build_ptes(model, work/'default', window, calibration, guard, GUARD_FLOOR)
        ravdess = args.ravdess or full_ravdess_root()
        onnx_files = {ONNX_FP32: shipped/'model.onnx', ONNX_INT8: shipped/'model.int8.onnx'}
        default_table = study(shipped.name, onnx_files | ptes,
                              pte_rows, guard, threads, 5 * args.repeats, window, ravdess)  # milliseconds: more runs
        print(shown(default_table), file=sys.stderr)
        judged = default_table[default_table.agreement.notna()]  # failed exports: listed with their error, not judged
        floor = [f"- guard: {k} agrees with ONNX fp32 on {r.agreement:.1%} of {len(guard)} guard clips"
                 f"{' (each repeated to one window)' if k.endswith(FIXED) else ''}, "
                 f"{'meets' if r.agreement >= GUARD_FLOOR else 'MISSES'} the export floor of {GUARD_FLOOR:.1%}"
                 for k, r in judged.iterrows() if k != ONNX_FP32 and 'int8' in k]
        if ravdess:
            meets = lambda r: r.ravdess_agreement >= 0.99 and abs(r.ravdess_ua_change_points) <= 0.5
            floor += [f'- RAVDESS target (>= 99 % agreement, UA change <= 0.5 points): {k}: {r.ravdess_agreement:.1%}, '
                      f"{r.ravdess_ua_change_points:+.2f} points, {'holds' if meets(r) else 'does NOT hold'}"
                      for k, r in judged.iterrows() if k != ONNX_FP32 and 'int8' in k and not k.endswith(FIXED)]
        corpora = ', '.join(sorted(set(audio.corpus)))
        timing = timing.replace(f'median of {args.repeats} ', f'median of {5 * args.repeats} ')
        sections += [f'**The shipped default model ({shipped.name}, log-mel CNN trained on CREMA-D): ExecuTorch '
                     f'XNNPACK '
                     f'against ONNX Runtime, one {window:g} s window**', shown(default_table),
                     '\n'.join(floor + caveats(default_table, threads)),
                     f'{timing}. Agreement and max_prob_diff against ONNX fp32 on the {len(guard)} guard clips of '
                     f'`distilser export` ({corpora}, unpadded); PT2E calibration on its {len(calibration)} '
                     f'calibration '
                     f'clips (the shipped ONNX int8 was calibrated and guarded on the same clips). ravdess_*: all '
                     f'four-class RAVDESS clips (cross-corpus, never used in training or calibration)'
                     f"{'' if ravdess else ': no RAVDESS root found, not measured'}. {machine}, "
                     f"{time.time() - t0:.0f} s in all."]
    md = '\n\n'.join(x for x in sections if x) + '\n'
    out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    print(md)
    return 0


if __name__ == '__main__': sys.exit(main())
