"""Does each model's int8 file answer as its fp32 file on every instruction set? Measured, not assumed.

For each model folder of models/ (its `model.onnx`, fp32 or float16 weights with fp32 arithmetic, and, if there,
`model.int8.onnx`):
- on the CPU at hand (its flags named), logits of every file on all 672 four-class RAVDESS clips: top-1 agreement of
  each int8 file with the fp32 file, UA of each, the largest probability change;
- on an emulated CPU without VNNI or AVX-512 (`qemu-x86_64 -cpu Haswell`: AVX2 and FMA only; onnxruntime's kernel
  dispatch reads the emulated CPUID, so it runs its AVX2 int8 kernels, the ones whose 16-bit pair sums saturate) on a
  sample of the same clips (emulation is some thousand times slower): the same comparison, and how far each file's
  emulated logits are from its own native logits;
- with `--requantize`, each int8 file of the 8-bit recipe (no `saturation_free` in its record) is rebuilt by today's
  `quantize_int8` (7-bit weights, calibrated and guarded on the model's training audio, which must be on this
  machine) into --work and measured beside the old one; `--replace` then puts it into models/.

Writes bench/results/int8_isa.md and .csv; the export chapter reads them. Run it from the folder that holds the
corpora named in the checkpoints' records (relative roots such as ASED/ are read from there).

    cd CORPORA && nice python REPO/bench/int8_isa.py --ravdess ../shared/data/ravdess --requantize --replace
"""
import argparse, json, os, shutil, subprocess, sys, time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from distilser.data import REPO_ROOT, ravdess_manifest
from distilser.evaluate import ravdess_metrics
from distilser.core import LABELS, softmax
from distilser.export import (OnnxClassifier, calibration_and_guard, quantize_int8, read_metadata, saturating_weights,
                              shipped_file, training_audio)
from distilser.int8_speed import cpu_label
from distilser.preprocessing import load_clip

RESULTS = REPO_ROOT/"bench"/"results"
EMULATED_CPU = "Haswell"  # AVX2 + FMA, no AVX-512, no VNNI: QEMU's model of a 2013 Intel Core
EMULATED = f"emulated {EMULATED_CPU} (QEMU user mode: AVX2, no VNNI)"


def child(args):
    "Logits of one ONNX file on the clips of an .npz, one thread, saved as .npy (run natively or under QEMU)."
    with np.load(args.clips) as z: clips = [z[k] for k in sorted(z.files, key=int)]
    np.save(args.out, OnnxClassifier(args.logits, num_threads=1).clip_logits(clips))


def logits(path: Path, clips_npz: Path, out: Path, emulate: bool) -> np.ndarray:
    "The logits of `path` on `clips_npz`, in a child process: natively, or on the emulated CPU."
    cmd = [sys.executable, str(Path(__file__).resolve()), "--logits", str(path), "--clips", str(clips_npz), "--out", str(out)]
    if emulate: cmd = ["qemu-x86_64", "-cpu", EMULATED_CPU] + cmd
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL if emulate else None)  # QEMU warns of absent CPUID bits
    return np.load(out)


def recipe(path: Path) -> str:
    "The int8 recipe of a file, from its record: 7-bit weights (saturation-free) or the 8-bit recipe before it."
    q = read_metadata(path).get("quantization")
    if q is None: return "fp32"
    return "int8, 7-bit weights" if json.loads(q).get("saturation_free") else "int8, 8-bit weights"


def requantize(model_dir: Path, out: Path) -> Path:
    "`model_dir`'s fp32 file quantised by today's recipe into `out`, on calibration and guard clips of its training audio."
    from distilser.model import load_model
    config = load_model(model_dir/"checkpoint").config
    window = float(read_metadata(model_dir/"model.onnx")["window_seconds"])
    calibration, guard = calibration_and_guard(training_audio(config), window_seconds=window)
    return quantize_int8(model_dir/"model.onnx", out, calibration, guard)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ravdess", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/int8_isa"))
    ap.add_argument("--emulated-clips", type=int, default=8, help="clips scored under emulation, per file")
    ap.add_argument("--requantize", action="store_true", help="rebuild int8 files of the 8-bit recipe by today's")
    ap.add_argument("--replace", action="store_true", help="with --requantize: put the rebuilt files into models/")
    ap.add_argument("--logits", type=Path, help=argparse.SUPPRESS); ap.add_argument("--clips", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.logits: return child(args)
    emulate = shutil.which("qemu-x86_64") is not None
    if not emulate: print("qemu-x86_64 not found (apt install qemu-user): the emulated rows are left out")
    args.work.mkdir(parents=True, exist_ok=True)
    manifest = ravdess_manifest(args.ravdess)
    rows, native_cpu = [], cpu_label()
    for model_dir in sorted(p.parent for p in (REPO_ROOT/"models").glob("*/model.onnx")):
        work = args.work/model_dir.name; work.mkdir(exist_ok=True)
        meta = read_metadata(model_dir/"model.onnx")  # each model's own contract (Whisper's has no pre-emphasis)
        clips = [load_clip(p, float(meta["window_seconds"]), json.loads(meta["preprocessing"])) for p in manifest.path]
        np.savez(work/"clips.npz", **{str(i): c for i, c in enumerate(clips)})
        sample = np.arange(len(clips))[::len(clips) // args.emulated_clips][:args.emulated_clips]
        np.savez(work/"sample.npz", **{str(i): clips[j] for i, j in enumerate(sample)})
        files = {"model.onnx": model_dir/"model.onnx"}
        if (model_dir/"model.int8.onnx").is_file(): files["model.int8.onnx"] = model_dir/"model.int8.onnx"
        rebuilt = None
        if args.requantize and "model.int8.onnx" in files and recipe(files["model.int8.onnx"]) != "int8, 7-bit weights":
            t = time.time(); rebuilt = requantize(model_dir, work/"model.int8.onnx")
            print(f"{model_dir.name}: re-quantised in {time.time() - t:.0f} s")
            files["model.int8.onnx (rebuilt)"] = rebuilt
        ref = logits(files["model.onnx"], work/"clips.npz", work/"fp32.npy", False)
        y = manifest.label.to_numpy()
        for name, path in files.items():
            z = ref if name == "model.onnx" else logits(path, work/"clips.npz", work/"native.npy", False)
            runs = [(native_cpu, z, ref, z, y)]
            if emulate:
                t = time.time()
                e = logits(path, work/"sample.npz", work/"emulated.npy", True)
                print(f"{model_dir.name} {name}: {len(e)} clips emulated in {time.time() - t:.0f} s")
                runs.append((EMULATED, e, ref[sample], z[sample], y[sample]))
            for cpu, zz, r, own_native, truth in runs:
                rows.append(dict(model=model_dir.name, file=name, recipe=recipe(path),
                                 saturating_weight_tensors=len(saturating_weights(path)) if "int8" in name else 0,
                                 MB=round(path.stat().st_size / 1e6, 3), cpu=cpu, clips=len(zz),
                                 agreement_with_fp32=round(float(np.mean(zz.argmax(1) == r.argmax(1))), 4),
                                 ua=round(ravdess_metrics(truth, np.array(LABELS)[zz.argmax(1)])["ua"], 4),
                                 max_prob_change=round(float(np.abs(softmax(zz) - softmax(r)).max()), 4),
                                 max_logit_change_from_native=round(float(np.abs(zz - own_native).max()), 6)))
        if rebuilt is not None and args.replace:
            shutil.copy(rebuilt, model_dir/"model.int8.onnx")
            print(f"{model_dir.name}: model.int8.onnx replaced by today's recipe; it runs: {shipped_file(model_dir).name}")
    df = pd.DataFrame(rows)
    df.to_csv(RESULTS/"int8_isa.csv", index=False)
    native = df[df.cpu == native_cpu].copy()
    base = native[native.file == "model.onnx"].set_index("model").ua
    native["ua_change_points"] = [round(100 * (u - base[m]), 2) for m, u in zip(native.model, native.ua)]
    cols = ["model", "file", "recipe", "saturating_weight_tensors", "MB", "agreement_with_fp32", "ua", "ua_change_points",
            "max_prob_change"]
    text = [f"# int8 against fp32 on two instruction sets ({date.today()})", "",
            f"All {len(manifest)} four-class RAVDESS clips on this CPU: {native_cpu}.", "",
            native[cols].to_markdown(index=False), ""]
    if emulate:
        emu = df[df.cpu == EMULATED]
        text += [f"A sample of {args.emulated_clips} of the same clips (every {len(manifest) // args.emulated_clips}th) "
                 f"on an {EMULATED}: agreement with the native fp32 file, and how far each file's logits moved from "
                 "its own logits on this CPU (fp32 and saturation-free int8: float rounding; 8-bit weights: saturation).",
                 "", emu[["model", "file", "recipe", "clips", "agreement_with_fp32", "max_prob_change",
                          "max_logit_change_from_native"]].to_markdown(index=False), ""]
    text += ["`python bench/int8_isa.py --ravdess ../shared/data/ravdess --requantize --replace` (from the corpora's folder). Which file each "
             "model runs follows `shipped_file` (07_export): "
             + ", ".join(f"{d.name}: {shipped_file(d).name}" for d in sorted((REPO_ROOT/'models').glob('*/')) if d.is_dir()) + "."]
    (RESULTS/"int8_isa.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
