"""ExecuTorch (XNNPACK backend) against ONNX Runtime: would `distilser export --format pte` be worth having?

    nice /tmp/etvenv/bin/python bench/executorch_pte.py    # on an otherwise idle CPU if you can; the note says the load

Needs an environment with ExecuTorch, which the project's .venv does not have (and must not get). Make one beside it
that borrows the project's torch, onnxruntime and distilser through a .pth file (ExecuTorch 1.5.1's wheel declares no
torch requirement; its runtime links against the torch it finds, and works with the project's torch 2.14.1):

    python3 -m venv /tmp/etvenv
    printf '%s\\n' "$PWD/.venv/lib/python3.11/site-packages" "$PWD" \\
        > /tmp/etvenv/lib/python3.11/site-packages/zz_distilser.pth
    nice /tmp/etvenv/bin/pip install executorch==1.5.1      # adds torchao 0.18 and friends to /tmp/etvenv only

What it does, for two models loaded with distilser's own code:
- the full DistilHuBERT architecture with random weights (`offline:distilhubert`, 8 s window), speed and size only, as
  in bench/int8_speed.py: fp32 ONNX and the project's int8 ONNX (`export_onnx`, guard off), calibrated on --clips
  CREMA-D sample clips, agreement on as many others;
- the shipped default model (models/cremad-melcnn-v1, 4 s window): its model.onnx and model.int8.onnx, and pte files
  calibrated and checked as `distilser export` does (`calibration_and_guard(training_audio(model))`: 256 training clips
  to calibrate, 512 others as the guard, floor 99.5 %), plus all four-class RAVDESS clips when a RAVDESS root is found.
Each model goes through `torch.export` and `to_edge_transform_and_lower(..., XnnpackPartitioner())` as fp32 and as
static int8 via PT2E (`XNNPACKQuantizer`, per-channel symmetric int8 weights, int8 activations, the first convolution in
float): (1) XNNPACKQuantizer as documented (every op it supports, histogram observer); (2) Conv and Linear only with
min/max ranges (the ONNX recipe); (3) for the default model, (2) plus distilser's guard (modules kept in float until
the int8 model, simulated in PyTorch, agrees with fp32 on the guard clips). Every program is written twice: for any
length up to the window (unpadded clips, what `distilser predict` feeds) and for exactly one window. All files are
timed interleaved in one run on one window of real speech (ExecuTorch's Python runtime with its thread pool set to 1
and 2 threads, onnxruntime sessions with as many), median of --repeats (x5 for the millisecond-scale default model);
ratio = latency / fp32 ONNX latency in the same run. Writes bench/results/executorch_pte.md; ~15 min on 2 busy cores.
"""
import argparse, copy, os, re, sys, tempfile, time, traceback, warnings
from pathlib import Path

warnings.simplefilter('ignore')  # torch.export, torchao and transformers warnings that do not change what is measured
import numpy as np
import pandas as pd
import torch

from distilser.data import full_ravdess_root, ravdess_manifest
from distilser.export import (OnnxClassifier, agreement, calibration_and_guard, calibration_clips, default_model_path,
                              export_onnx, ort_session, training_audio, GUARD_FLOOR, MAX_FLOAT)
from distilser.int8_speed import cpu_label, median_times, speech_window
from distilser.model import OFFLINE_DISTILHUBERT, count_parameters, load_model
from distilser.preprocessing import MIN_SAMPLES, SAMPLE_RATE, input_contract, load_clip

HERE = Path(__file__).resolve().parent
RANDOM = 'random weights (offline configuration): speed and size only, not a result of the method'
ONNX_FP32, ONNX_INT8 = 'ONNX fp32 (reference)', 'ONNX int8 (distilser export)'
PTE_FP32, PTE_INT8_ALL = 'pte fp32', 'pte int8 XNNPACKQuantizer default'
PTE_INT8, PTE_INT8_GUARD = 'pte int8 Conv+Linear min/max', 'pte int8 Conv+Linear min/max, guarded'
DIGITS = dict(size_mb=2, simulated_agreement=3, export_s=0, agreement=3, max_prob_diff=4, ravdess_agreement=3,
              ravdess_ua=3,
              ravdess_ua_change_points=2, ms_1t=1, ratio_1t=2, ms_2t=1, ratio_2t=2)
COLUMNS = ['size_mb', 'export_s', 'float_layers', 'guard_trials', 'simulated_agreement', 'agreement', 'max_prob_diff',
           'ms_1t', 'ratio_1t', 'ms_2t', 'ratio_2t', 'ravdess_agreement',
           'ravdess_ua', 'ravdess_ua_change_points', 'delegated', 'not_delegated', 'outside', 'error']


class Logits(torch.nn.Module):
    "The classifier's logits as the program's only output (`input_values` `[1, samples]` -> `[1, labels]`)."
    def __init__(self, model): super().__init__(); self.model = model
    def forward(self, input_values): return self.model(input_values=input_values).logits


def _traced(model, window_seconds: float):
    "`(module, example, dims)`: `model`'s logits as a module for torch.export, its example input, a dynamic length."
    model = copy.deepcopy(model).eval()
    for m in model.modules(): m._non_persistent_buffers_set.clear()  # ExecuTorch's verifier rejects those
    n = int(round(window_seconds * SAMPLE_RATE))
    return Logits(model), (torch.zeros(1, n),), {'input_values': {1: torch.export.Dim.AUTO(min=MIN_SAMPLES, max=n)}}


def pt2e_int8(module, example, dims, calibration, weighted_only: bool = True, minmax: bool = True, keep_float=()):
    """PT2E static int8 of `module` for XNNPACK, calibrated on `calibration`: per-channel symmetric int8 weights, int8
    activations; the first convolution (it reads the waveform) and the modules named in `keep_float` stay in float.
    `weighted_only`: Conv and Linear only (the ONNX recipe), not the adds, muls, cats and pools that XNNPACKQuantizer
    also takes by default; `minmax`: min/max activation ranges (the ONNX recipe) instead of its histogram observer."""
    import dataclasses
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e import MinMaxObserver
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    graph = torch.export.export(module, example, dynamic_shapes=dims).module()
    config, quantizer = get_symmetric_quantization_config(is_per_channel=True), XNNPACKQuantizer()
    if minmax:
        act = dataclasses.replace(config.input_activation,
                                  observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
        config = dataclasses.replace(config, input_activation=act, output_activation=act)
    if weighted_only:
        for op in (torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default, torch.ops.aten.linear.default):
            quantizer.set_operator_type(op, config)
    else: quantizer.set_global(config)
    first = next(n.name for n in graph.graph.nodes if n.op == 'call_function' and 'conv' in str(n.target))
    owners = lambda node: {path for path, _ in node.meta.get('nn_module_stack', {}).values()}
    quantizer.set_filter_function(lambda node: node.name != first and not owners(node) & set(keep_float))
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for clip in calibration: prepared(torch.as_tensor(np.asarray(clip, np.float32))[None])
    return convert_pt2e(prepared)


def guard_float_layers(model, window_seconds, calibration, guard, reference_logits, floor=GUARD_FLOOR,
                       max_float=MAX_FLOAT) -> tuple[list, float, int]:
    """distilser's accuracy guard for PT2E: until the int8 model (run in PyTorch, quantised ops simulated) agrees with
    `reference_logits` on `guard` clips at `floor`, keep in float the Conv or Linear module whose staying float raises
    the agreement most (at most `max_float`). `(modules kept in float, agreement reached, trials)`."""
    module, example, dims = _traced(model, window_seconds)
    weighted = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)
    candidates = [f'model.{n}' for n, m in model.named_modules() if isinstance(m, weighted)]
    def agrees(keep):
        q = pt2e_int8(module, example, dims, calibration, keep_float=keep)
        with torch.no_grad():
            z = np.concatenate([q(torch.as_tensor(np.asarray(c, np.float32))[None]).numpy() for c in guard])
        return float(np.mean(z.argmax(1) == reference_logits.argmax(1))), -float(np.abs(z - reference_logits).mean())
    kept, reached, trials = [], agrees([]), 1
    while reached[0] < floor and len(kept) < max_float:
        tried = {c: agrees(kept + [c]) for c in candidates if c not in kept}
        trials += len(tried)
        best = max(tried, key=tried.get)
        kept, reached = kept + [best], tried[best]
        print(f'guard: {kept} in float: agreement {reached[0]:.4f}', file=sys.stderr)
    return kept, reached[0], trials


def export_pte(model, path, window_seconds: float, calibration=None, weighted_only: bool = True, minmax: bool = True,
               keep_float=(), fixed_path=None) -> dict:
    """Write `model` as an ExecuTorch program lowered to XNNPACK at `path`: fp32, or static int8 (`pt2e_int8`) when
    `calibration` clips are given. Input `[1, samples]`, any length from 25 ms up to the window; `fixed_path`: the same
    program (same calibration) for exactly one window too. Returns `{path: delegation counts}`."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir.passes.constant_prop_pass import constant_prop_pass
    module, example, dims = _traced(model, window_seconds)
    if calibration is not None:
        module = pt2e_int8(module, example, dims, calibration, weighted_only, minmax, keep_float)
    info = {}
    for out, shapes in [(path, dims), (fixed_path, None)]:
        if out is None: continue
        program = torch.export.export(module, example, dynamic_shapes=shapes)
        if calibration is None:  # fold constants (the weight norm of DistilHuBERT's positional conv, as onnxruntime's
            program = constant_prop_pass(program)  # pre-processing does); convert_pt2e has folded them in the int8 path
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        ops = get_delegation_info(lowered.exported_program().graph_module).get_operator_delegation_dataframe()
        ops = ops.set_index('op_type').iloc[:-1]
        ops = ops[ops.index.str.startswith('aten_')]  # not getitem, symbolic sizes
        outside = ops[ops.iloc[:, 1] > 0].iloc[:, 1]
        info[out] = dict(delegated=int(ops.iloc[:, 0].sum()), not_delegated=int(outside.sum()), outside=', '.join(
            f"{op.removeprefix('aten_').removesuffix('_default')} x{int(k)}" for op, k in outside.items()))
        Path(out).write_bytes(lowered.to_executorch().buffer)
    return info


def et_method(path):
    "The `forward` method of the ExecuTorch program at `path` (ExecuTorch's Python runtime)."
    from executorch.runtime import Runtime
    return Runtime.get().load_program(Path(path)).load_method('forward')


def set_et_threads(n: int):
    "Size ExecuTorch's thread pool (used by the XNNPACK delegate); load methods after this."
    from executorch.extension.pybindings import portable_lib
    portable_lib._unsafe_reset_threadpool(n)
    return portable_lib._threadpool_get_thread_count()


class PteClassifier:
    "An ExecuTorch program with the `clip_logits` of `OnnxClassifier`: one unpadded clip at a time."
    def __init__(self, path): self.path, self.method = Path(path), et_method(path)
    def clip_logits(self, clips) -> np.ndarray:
        return np.concatenate([self.method.execute([torch.as_tensor(np.asarray(c, np.float32))[None]])[0].numpy()
                               for c in clips])


def classifier(path): return PteClassifier(path) if str(path).endswith('.pte') else OnnxClassifier(path)


RECIPES = {PTE_FP32: dict(), PTE_INT8_ALL: dict(weighted_only=False, minmax=False), PTE_INT8: dict(),
           PTE_INT8_GUARD: dict(guard=True)}
ANY, FIXED = 'any length', 'fixed window'

def build_ptes(model, work: Path, window: float, calibration, guard=None, reference=None,
               floor=0.0) -> tuple[dict, dict]:
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
            options = {k: v for k, v in how.items() if k != 'guard'}
            if how.get('guard'):
                kept, reached, trials = guard_float_layers(model, window, calibration, guard, reference, floor)
                options['keep_float'] = kept
                extra = dict(float_layers=', '.join(k.removeprefix('model.') for k in kept) or 'none',
                             guard_trials=trials, simulated_agreement=reached)
            info = export_pte(model, files[ANY], window, calibration if recipe != PTE_FP32 else None, **options,
                              fixed_path=files[FIXED])
            for kind in (ANY, FIXED):
                rows[names[kind]] = info[files[kind]] | extra | dict(export_s=time.time() - t)
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
                m, xt = et_method(path), torch.from_numpy(x)
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
    command = ' '.join(['nice /tmp/etvenv/bin/python bench/executorch_pte.py', *argv])
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
              f'ranges (the ONNX recipe); "guarded": the same, with the Conv/Linear modules kept in float that '
              f'distilser\'s guard picks (greedy, agreement of the int8 model simulated in PyTorch on the guard clips, '
              f'floor {GUARD_FLOOR:.1%}, at most {MAX_FLOAT}; simulated_agreement is what the guard saw). All '
              f'per-channel '
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
        shipped = default_model_path().parent
        model = load_model(shipped/'checkpoint', freeze_feature_encoder=False).eval()
        window = float(model.config.distilser_preprocessing['window_seconds'])
        audio = training_audio(model)
        calibration, guard = calibration_and_guard(audio, window_seconds=window)
        reference = OnnxClassifier(shipped/'model.onnx').clip_logits(guard)
        ptes, pte_rows = build_ptes(model, work/'default', window, calibration, guard, reference, GUARD_FLOOR)
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
