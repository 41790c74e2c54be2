"""Calibration of the shipped model: its temperature and `uncertain` thresholds, fitted on corpora it never heard.

The shipped default model (cremad-melcnn-v2, the file it runs by the shipping rule; trained here from random weights on CREMA-D only) classifies
every four-class clip of the corpora on this machine: the 540 CREMA-D clips of its validation speakers
(models/cremad-melcnn-v2/checkpoint/split/held_out.csv), RAVDESS, and the five corpora it never trained on (ASED,
URDU, EMOVO, EmoDB, TurEV). Their raw logits go to bench/results/calibration_logits.csv; the calibration chapter's
`calibration_study` scores three candidates on every corpus, RULE below picks one, and its record is written into the
`calibration` metadata of models/cremad-melcnn-v2/model.onnx and model.int8.onnx (the graphs and weights unchanged,
checked). Figures go to bench/results/calibration.md and calibration.csv, the record to calibration.json (for
`distilser export --confidence-calibration`).

The rule was declared in this file before the first run (2026-12-04) and is not changed after seeing results: RULE.

    nice .venv/bin/python bench/calibration.py --corpora /work/corpora --ravdess ../shared/data/ravdess
"""
import argparse, hashlib, json
from datetime import date
from pathlib import Path

import onnx
import pandas as pd

from distilser.calibration import (CANDIDATES, MIN_ACCURACY, NOTE_WINDOWS, TIE, calibration_study)
from distilser.core import ECE_BINS, LABELS
from distilser.data import REPO_ROOT, cremad_manifest, full_ravdess_root, load_corpora, ravdess_manifest
from distilser.evaluate import predict_clips
from distilser.default_model import CREMAD_MODEL
from distilser.export import OnnxClassifier, shipped_file, write_metadata

RESULTS = REPO_ROOT/"bench"/"results"
MODEL_DIR = REPO_ROOT/"models"/CREMAD_MODEL
UNSEEN = dict(ased="ASED", urdu="URDU", emovo="EMOVO", emodb="EmoDB", turev="TurEV")  # never trained on
VALIDATION = ["cremad"]  # the held-out speakers of the training corpus (only they are in the table as cremad)
RULE = (f"Candidates, simplest first: {', '.join(CANDIDATES)} (T = 1; T fitted on the CREMA-D validation speakers; "
        f"T fitted across the unseen corpora {', '.join(UNSEEN)}, each corpus weighing the same). Each is scored by "
        f"its mean ECE ({ECE_BINS} equal-width bins, top-class confidence) over those five unseen corpora, the "
        "cross-corpus T leave one corpus out (each corpus scored with the T fitted on the other four). The lowest "
        f"mean ships; a later candidate replaces an earlier one only if its mean ECE is lower by more than {TIE}. "
        "The shipped cross-corpus T is fitted on all five. RAVDESS is never fitted on and never used to choose. "
        f"Thresholds: the lowest confidence at which the isotonic fit of accuracy against confidence reaches "
        f"{MIN_ACCURACY} on the candidate's fit set (windows: clips; notes: {NOTE_WINDOWS} clips of one speaker and "
        "emotion averaged; the validation speakers for none and validation).")
TARGET = "ECE after calibration at most half of ECE before (T = 1), or below 0.05"


def table_of(model, manifest: pd.DataFrame, corpus: str) -> pd.DataFrame:
    "The calibration table of `manifest`: corpus, group (speaker), label, path and the raw logits."
    preds = predict_clips(model, manifest, progress=False)
    if preds.attrs["skipped"]: print(f"{corpus}: {len(preds.attrs['skipped'])} clips skipped")
    group = preds.speaker.astype(str) if "speaker" in preds else pd.Series("unknown", index=preds.index)
    return pd.DataFrame(dict(corpus=corpus, group=group, label=preds.label,
                             path=preds.path.map(lambda p: f"{Path(p).parent.name}/{Path(p).name}"),
                             **{f"logit_{l}": preds[f"logit_{l}"].round(5) for l in LABELS}))


def validation_manifest(corpora: Path) -> pd.DataFrame:
    "The CREMA-D clips of the model's validation speakers, from the copy under `corpora`."
    held = pd.read_csv(MODEL_DIR/"checkpoint"/"split"/"held_out.csv")
    manifest = cremad_manifest(corpora/"CREMA-D")
    picked = manifest[manifest.path.map(lambda p: Path(p).name).isin(held.path.map(lambda p: Path(p).name))]
    assert len(picked) == len(held) == 540, (len(picked), len(held))
    return picked.reset_index(drop=True)


def logits_table(corpora: Path, ravdess: Path, cache: Path | None) -> pd.DataFrame:
    "Every corpus's calibration table (each read from `cache` when it holds one)."
    model = OnnxClassifier(shipped_file(MODEL_DIR))  # the file distilser runs: its logits are what T acts on
    sources = dict(cremad=lambda: validation_manifest(corpora), ravdess=lambda: ravdess_manifest(ravdess),
                   **{c: (lambda c=c, f=folder: load_corpora({c: corpora/f})) for c, folder in UNSEEN.items()})
    parts = []
    for corpus, manifest in sources.items():
        cached = cache and cache/f"{corpus}.csv"
        if cached and cached.exists(): parts.append(pd.read_csv(cached, dtype=dict(group=str))); continue
        part = table_of(model, manifest(), corpus)
        print(f"{corpus}: {len(part)} clips", flush=True)
        if cached: cache.mkdir(parents=True, exist_ok=True); part.to_csv(cached, index=False)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def ship(record: dict, model_dir: Path = MODEL_DIR) -> list[str]:
    "Write `record` as the `calibration` metadata of a model's ONNX files; their graphs (weights included) unchanged."
    lines = []
    for name in [n for n in ("model.onnx", "model.int8.onnx") if (model_dir/n).is_file()]:  # a large model: int8 only
        path = model_dir/name
        before = hashlib.sha256(onnx.load(str(path)).graph.SerializeToString()).hexdigest()
        write_metadata(path, dict(calibration=json.dumps(record)))
        after = hashlib.sha256(onnx.load(str(path)).graph.SerializeToString()).hexdigest()
        assert before == after, f"{path}: the graph changed"
        assert OnnxClassifier(path).temperature == record["temperature"]
        lines.append(f"{name}: graph sha256 {after[:16]}... unchanged; `calibration` metadata written")
    return lines


def wide(scores: pd.DataFrame, choice: str) -> pd.DataFrame:
    "One row per corpus: ECE per candidate, the target, and the chosen candidate's other figures."
    ece = scores.pivot(index="corpus", columns="candidate", values="ece")[list(CANDIDATES)]
    chosen = scores[scores.candidate == choice].set_index("corpus")
    none = scores[scores.candidate == "none"].set_index("corpus")
    out = pd.DataFrame({"clips": chosen.clips, "accuracy": chosen.accuracy, "UA": chosen.ua,
                        "UA changed": ((chosen.ua - none.ua).abs() > 1e-12).map({True: "yes", False: "no"}),
                        **{f"ECE {c}": ece[c] for c in CANDIDATES},
                        f"T ({choice})": chosen.temperature,
                        "target met": ((ece[choice] <= ece["none"] / 2) | (ece[choice] < 0.05)).map(
                            {True: "yes", False: "no"}).where(~ece.index.isin(VALIDATION), "not a target"),
                        "Brier none": none.brier, f"Brier {choice}": chosen.brier,
                        f"mean confidence {choice}": chosen.mean_confidence,
                        "uncertain windows": chosen.uncertain_share,
                        "accuracy of the others": chosen.accuracy_when_certain,
                        "uncertain notes": chosen.note_uncertain_share,
                        "note accuracy of the others": chosen.note_accuracy_when_certain})
    order = ["cremad", "ravdess", *UNSEEN]
    return out.loc[[c for c in order if c in out.index]]


def report(scores, choice, record, table, shipped_lines) -> str:
    "bench/results/calibration.md."
    w = wide(scores, choice)
    names = {"cremad": "CREMA-D validation speakers (540)", "ravdess": "RAVDESS (test only)",
             **{c: f"{f} (unseen)" for c, f in UNSEEN.items()}}
    mean = scores[scores.corpus.isin(UNSEEN)].groupby("candidate").ece.mean()[list(CANDIDATES)]
    shown = w.rename(index=names).reset_index(names="corpus").to_markdown(index=False, floatfmt=".3f")
    return "\n".join([
        f"# Calibration of {CREMAD_MODEL} ({shipped_file(MODEL_DIR).name}, trained here from random weights on CREMA-D only)", "",
        f"Written by `bench/calibration.py` on {date.today()}; {len(table)} clips.", "",
        f"**Rule** (declared before the first run): {RULE}", "",
        "Mean ECE over the five unseen corpora (cross-corpus leave one corpus out): " +
        ", ".join(f"{c} {v:.3f}" for c, v in mean.items()) + f". **Chosen: {choice}.**", "",
        f"**Shipped record** (ONNX metadata key `calibration`): `{json.dumps(record)}`", "",
        *[f"- {line}" for line in shipped_lines], "",
        f"Per corpus. ECE columns: each candidate (cross-corpus: leave one corpus out on the unseen corpora, the "
        f"shipped T elsewhere). Target: {TARGET}. The other columns are the chosen candidate's: `uncertain windows` "
        f"is the share of clips below the window threshold, `accuracy of the others` the accuracy of the clips that "
        f"are not uncertain (beside the accuracy of all); notes are {NOTE_WINDOWS} clips of one speaker and emotion "
        "averaged, at the note threshold.", "",
        shown, "",
        f"Target (RAVDESS and the unseen corpora) met on {int((w['target met'] == 'yes').sum())} of "
        f"{int((w['target met'] != 'not a target').sum())} corpora; missed on "
        f"{', '.join(names[c] for c in w.index[w['target met'] == 'no']) or 'none'}. "
        f"UA changed by calibration on {int((w['UA changed'] == 'yes').sum())} corpora.", ""])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpora", type=Path, default=Path("/work/corpora"),
                   help="the folder of CREMA-D and the unseen corpora")
    p.add_argument("--ravdess", type=Path, default=full_ravdess_root(), help="full RAVDESS root")
    p.add_argument("--cache", type=Path, default=None, help="keep each corpus's logits here and reuse them")
    p.add_argument("--no-ship", action="store_true", help="do not write the record into the shipped model files")
    args = p.parse_args()
    table = logits_table(args.corpora, args.ravdess, args.cache)
    scores, choice, record = calibration_study(table, VALIDATION, list(UNSEEN))
    record = dict(record, rule=RULE)
    shipped_lines = [] if args.no_ship else ship(record)
    table.to_csv(RESULTS/"calibration_logits.csv", index=False)
    scores.to_csv(RESULTS/"calibration.csv", index=False)
    # the record alone, for `distilser export --confidence-calibration` when the model is exported again
    (RESULTS/"calibration.json").write_text(json.dumps(record, indent=1) + "\n")
    text = report(scores, choice, record, table, shipped_lines)
    (RESULTS/"calibration.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
