"""Calibration of five-corpora-melcnn-v1: its temperature and `uncertain` thresholds, chosen by a rule declared here.

The default model's calibration (bench/calibration.py, chapter 08a) fits a cross-corpus temperature on five corpora
that model never heard. This model heard all five, so the corpora it never heard are only TurEV-DB and RAVDESS, too
few to fit on and score apart. What stands in for them is how its recipe behaves on a corpus it never heard: the
recipe's leave-one-corpus-out runs (bench/loco.py's chosen recipe, seeds 0, 1 and 2), where each target corpus was
scored by the fold model that left it out. Their predictions.csv files hold probabilities; their logarithms serve as
logits (a temperature acts on them as on logits). The shipped model's own logits come in for its validation speakers
(the held-out speakers of its five training corpora, checkpoint/split/held_out.csv), TurEV-DB and RAVDESS. The chapter
08a functions score the three candidates, RULE picks one, and its record is written into the `calibration` metadata
of models/five-corpora-melcnn-v1/model.onnx and model.int8.onnx (graphs unchanged, checked). Tables go to
bench/results/calibration_five_corpora.md, .csv and _logits.csv.

RULE was declared in this file, and committed, before the first run (2026-12-05).

    nice .venv/bin/python bench/calibration_five_corpora.py --runs RUNS --corpora CORPORA --ravdess RAVDESS
"""
import argparse, json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from distilser.calibration import CANDIDATES, MIN_ACCURACY, NOTE_WINDOWS, TIE, calibration_study
from distilser.core import ECE_BINS, LABELS
from distilser.data import REPO_ROOT, load_corpora, ravdess_manifest
from distilser.export import OnnxClassifier, shipped_file

from calibration import ship, table_of  # the default model's calibration script: the same table and the same ship
from corpora import FOLDERS
from loco import RECIPES, RERUNS, TARGETS

NAME = "five-corpora-melcnn-v1"
MODEL_DIR = REPO_ROOT/"models"/NAME
RESULTS = REPO_ROOT/"bench"/"results"
VALIDATION = ["validation"]  # the held-out speakers of the five training corpora, pooled as one corpus
LOCO = [f"loco_{c}" for c in TARGETS]  # each target corpus as the recipe's fold that left it out scored it
REPORTED = ["turev", "ravdess"]  # the shipped model never heard them: scored, never fitted on, never used to choose
RULE = (f"Candidates, simplest first: {', '.join(CANDIDATES)} (T = 1; T fitted on the model's validation speakers, "
        "the held-out speakers of its five training corpora; T fitted on the recipe's leave-one-corpus-out test "
        "predictions, each of the five target corpora scored by the fold model that left it out, its three seeds' "
        "runs pooled, each corpus weighing the same). Each is scored by its mean ECE "
        f"({ECE_BINS} equal-width bins, top-class confidence) over those five leave-one-corpus-out corpora, the "
        "cross-corpus T leave one corpus out. The lowest mean ships; a later candidate replaces an earlier one only "
        f"if its mean ECE is lower by more than {TIE}. The shipped cross-corpus T is fitted on all five. TurEV-DB "
        "and RAVDESS, which the shipped model never heard, are scored with each candidate's shipped record and "
        "reported; they are never fitted on and never used to choose. Thresholds: the lowest confidence at which "
        f"the isotonic fit of accuracy against confidence reaches {MIN_ACCURACY} on the candidate's fit set "
        f"(windows: clips; notes: {NOTE_WINDOWS} clips of one speaker and emotion averaged, within one run).")


def loco_table(runs: Path, recipe: str) -> pd.DataFrame:
    """The recipe's leave-one-corpus-out test predictions as a calibration table: per target corpus, every seed's
    fold that left it out; log-probabilities as logits; a note never mixes two runs (group = seed and speaker)."""
    folders = {0: RECIPES[recipe], **RERUNS[recipe]}
    parts = []
    for seed, folder in folders.items():
        for target in TARGETS:
            p = pd.read_csv(runs/folder/f"fold_{target}"/"predictions.csv")
            p = p[p.corpus == target]
            parts.append(pd.DataFrame(dict(corpus=f"loco_{target}", group=f"seed{seed}/" + p.speaker.astype(str),
                                           label=p.label, path=p.path.map(lambda s: "/".join(Path(s).parts[-2:])),
                                           **{f"logit_{l}": np.log(np.clip(p[f"p_{l}"], 1e-6, 1)).round(5)
                                              for l in LABELS})))
    return pd.concat(parts, ignore_index=True)


def model_tables(corpora: Path, ravdess: Path) -> pd.DataFrame:
    "The shipped model's calibration tables: its validation speakers, TurEV-DB and RAVDESS."
    model = OnnxClassifier(shipped_file(MODEL_DIR))  # the file distilser runs
    held = pd.read_csv(MODEL_DIR/"checkpoint"/"split"/"held_out.csv", dtype=dict(speaker=str, group=str))
    held["path"] = held.path.map(lambda p: str(corpora/p))  # recorded relative to the folder it was trained from
    held["speaker"] = held.corpus + "/" + held.speaker  # five corpora pooled: their speaker ids may coincide
    sources = dict(validation=held, turev=load_corpora(dict(turev=corpora/FOLDERS["turev"])),
                   ravdess=ravdess_manifest(ravdess))
    return pd.concat([table_of(model, manifest, corpus) for corpus, manifest in sources.items()], ignore_index=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, help="the folder of the leave-one-corpus-out runs (default: their rows of the "
                   "committed calibration_five_corpora_logits.csv, which an earlier run read from them)")
    p.add_argument("--corpora", type=Path, required=True, help="the folder the model was trained from (CREMA-D, ...)")
    p.add_argument("--ravdess", type=Path, required=True)
    p.add_argument("--no-ship", action="store_true", help="do not write the record into the model's files")
    args = p.parse_args()
    choice = json.loads((RESULTS/"loco_choice.json").read_text())["chosen"]
    loco = (loco_table(args.runs, choice) if args.runs else
            pd.read_csv(RESULTS/"calibration_five_corpora_logits.csv", dtype=dict(group=str)).query("corpus.str.startswith('loco_')"))
    table = pd.concat([loco, model_tables(args.corpora, args.ravdess)], ignore_index=True)
    scores, chosen, record = calibration_study(table, VALIDATION, LOCO)
    record = dict(record, rule=RULE)
    shipped = [] if args.no_ship else ship(record, MODEL_DIR)
    table.to_csv(RESULTS/"calibration_five_corpora_logits.csv", index=False)
    scores.to_csv(RESULTS/"calibration_five_corpora.csv", index=False)
    ece = scores.pivot(index="corpus", columns="candidate", values="ece")[list(CANDIDATES)]
    mean = ece.loc[LOCO].mean()
    figures = scores[scores.candidate == chosen].set_index("corpus")[["clips", "accuracy", "ua", "temperature",
                                                                      "uncertain_share", "accuracy_when_certain"]]
    table_md = ece.add_prefix("ECE ").join(figures).round(3).to_markdown()
    text = "\n".join([
        f"# Calibration of {NAME} ({shipped_file(MODEL_DIR).name}, trained here from random weights on five corpora)", "",
        f"Written by `bench/calibration_five_corpora.py` on {date.today()}; {len(table)} rows (the recipe's "
        f"leave-one-corpus-out predictions, {choice}, and the shipped model's own logits).", "",
        f"**Rule** (declared before the first run): {RULE}", "",
        "Mean ECE over the five leave-one-corpus-out corpora: " + ", ".join(f"{c} {v:.3f}" for c, v in mean.items())
        + f". **Chosen: {chosen}.**", "",
        f"**Shipped record** (ONNX metadata key `calibration`): `{json.dumps(record)}`", "",
        *[f"- {line}" for line in shipped], "",
        "Per corpus: ECE of each candidate (cross-corpus on the LOCO corpora: leave one corpus out; elsewhere the "
        "shipped T), then the chosen candidate's clips, accuracy, UA, T, share of `uncertain` windows and the "
        "accuracy of the others. `loco_*`: the recipe's fold models; `validation`, `turev`, `ravdess`: this model.",
        "", table_md, ""])
    (RESULTS/"calibration_five_corpora.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
