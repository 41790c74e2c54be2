"""Calibration of whisper-base-five-corpora-v1: its temperature and `uncertain` thresholds, by chapter 08a's rule.

The model heard all five corpora that may train, so what stands in for a corpus it never heard is how its recipe
behaves on one: the chosen recipe's leave-one-corpus-out runs (bench/results/whisper_choice.json, the single-clip
scenario, seeds 0, 1 and 2), each target corpus scored by the fold head that left it out. Those heads train on the
cached statistics in seconds, so they are trained again here (05b's `loco_head`, the same folds and seeds as
bench/whisper_loco.py). The shipped head's own logits come in for its validation speakers (10 % of each training
corpus's speakers, the ones its early stopping watched), for TurEV-DB and for RAVDESS, which it never heard. Every
logit is the head's on the cached statistics (the fp32 encoder's, stored in float16); the shipped file (float16
weights, float32 arithmetic) agrees with fp32 on every agreement clip (bench/results/whisper_export.md). Chapter 08a's `calibration_study` scores the three
candidates, RULE picks one, and the record is written into the `calibration` metadata of the model's ONNX file.
Tables: bench/results/whisper_calibration.md, .csv, _logits.csv, and the record in whisper_calibration.json.

RULE was declared in this file, and committed, before the first run (2026-12-06).

    nice -n 5 .venv/bin/python bench/whisper_calibration.py --cache /work/cache
"""
import argparse, json
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import torch

from distilser.calibration import CANDIDATES, MIN_ACCURACY, NOTE_WINDOWS, TIE, WORSE_BY, calibration_study
from distilser.core import ECE_BINS, LABELS, write_atomic
from distilser.export import shipped_file
from distilser.loco import validation_speakers
from distilser.whisper_heads import HeadRecipe, cache_file, head_logits, load_cached, loco_head

from calibration import ship  # the default model's calibration script: the same metadata writer
from whisper_export import MODEL_DIR, NAME, committed_head
from whisper_loco import BACKBONE, RESULTS, SEEDS, TARGETS, WINDOW, load_all

LOCO = [f"loco_{c}" for c in TARGETS]  # each target corpus as the recipe's fold that left it out scored it
VALIDATION = ["validation"]            # the shipped head's validation speakers, five corpora pooled
REPORTED = ["turev", "ravdess"]        # never heard: scored, never fitted on, never used to choose
RULE = (f"Candidates, simplest first: {', '.join(CANDIDATES)} (T = 1; T fitted on the shipped head's validation "
        "speakers, 10 % of each training corpus's speakers; T fitted on the chosen recipe's leave-one-corpus-out test "
        "predictions, each of the five target corpora scored by the fold head that left it out, seeds "
        f"{', '.join(map(str, SEEDS))} pooled, each corpus weighing the same). Each is scored by its mean ECE "
        f"({ECE_BINS} equal-width bins, top-class confidence) over those five leave-one-corpus-out corpora, the "
        f"cross-corpus T leave one corpus out. A candidate may be chosen only if no one of the five corpora has an "
        f"ECE more than {WORSE_BY} above its ECE with T = 1 (chapter 08a's `within_guard`; issue 41). Among those, the "
        f"lowest mean ships; a later candidate replaces an earlier one only if its mean ECE is lower by more than "
        f"{TIE}. The shipped cross-corpus T is fitted on all five. TurEV-DB and RAVDESS, which the shipped model never "
        "heard, are scored with each candidate's shipped record and reported; they are never fitted on and never used "
        f"to choose. Thresholds: the lowest confidence at which the isotonic fit of accuracy against confidence reaches "
        f"{MIN_ACCURACY} on the candidate's fit set (windows: clips; notes: {NOTE_WINDOWS} clips of one speaker and "
        "emotion averaged).")


def logit_columns(logits: np.ndarray) -> dict:
    return {f"logit_{l}": logits[:, k].round(5) for k, l in enumerate(LABELS)}


def loco_table(rows, stats, recipe: HeadRecipe) -> pd.DataFrame:
    """The recipe's leave-one-corpus-out test predictions as a calibration table: per target corpus, every seed's fold
    head that left it out; log-probabilities as logits (a temperature acts on them as on logits); a note never mixes
    two seeds (group = seed and speaker)."""
    parts = []
    for seed in SEEDS:
        preds, _ = loco_head(rows, stats, replace(recipe, seed=seed), "clip", targets=TARGETS)
        p = preds[preds.corpus == preds.fold]
        logp = np.log(np.clip(p[[f"p_{l}" for l in LABELS]].to_numpy(np.float64), 1e-30, 1))
        parts.append(pd.DataFrame(dict(corpus="loco_" + p.corpus, group=f"seed{seed}/" + p.speaker.astype(str),
                                       label=p.label, path=p.path, **logit_columns(logp))))
    return pd.concat(parts, ignore_index=True)


def model_table(rows, stats, recipe: HeadRecipe, cache) -> pd.DataFrame:
    "The shipped head's logits: its validation speakers (five corpora pooled), TurEV-DB and RAVDESS."
    head, _ = committed_head(recipe)
    pool = rows[rows.corpus.isin(TARGETS)]
    held = pool[pool.speaker.isin(validation_speakers(pool, 0.1, recipe.seed))]
    turev_rows, turev_stats, _ = load_cached(cache_file("turev", BACKBONE, WINDOW, cache), BACKBONE, WINDOW)
    sources = dict(validation=(held.assign(speaker=held.corpus + "/" + held.speaker.astype(str)), stats[held.i]),
                   turev=(turev_rows, turev_stats), ravdess=(rows[rows.corpus == "ravdess"], stats[rows.corpus == "ravdess"]))
    return pd.concat([pd.DataFrame(dict(corpus=c, group=r.speaker.astype(str).to_numpy(), label=r.label.to_numpy(),
                                        path=r.path.to_numpy(), **logit_columns(head_logits(head, x))))
                      for c, (r, x) in sources.items()], ignore_index=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True, help="the feature cache of bench/whisper_features.py")
    p.add_argument("--no-ship", action="store_true", help="do not write the record into the model's file")
    args = p.parse_args()
    torch.set_num_threads(1)
    recipe = HeadRecipe(**json.loads((RESULTS/"whisper_choice.json").read_text())["recipe"])
    rows, stats, _ = load_all(args.cache)
    table = pd.concat([loco_table(rows, stats, recipe), model_table(rows, stats, recipe, args.cache)], ignore_index=True)
    scores, chosen, record = calibration_study(table, VALIDATION, LOCO)
    record = dict(record, rule=RULE)
    shipped = [] if args.no_ship else ship(record, MODEL_DIR)
    table.to_csv(RESULTS/"whisper_calibration_logits.csv", index=False)
    scores.to_csv(RESULTS/"whisper_calibration.csv", index=False)
    write_atomic(RESULTS/"whisper_calibration.json", json.dumps(dict(chosen=chosen, record=record), indent=2))
    ece = scores.pivot(index="corpus", columns="candidate", values="ece")[list(CANDIDATES)]
    worse = (ece.loc[LOCO, chosen] - ece.loc[LOCO, "none"]).max()
    figures = scores[scores.candidate == chosen].set_index("corpus")[["clips", "accuracy", "ua", "temperature",
                                                                      "uncertain_share", "accuracy_when_certain"]]
    text = "\n".join([
        f"# Calibration of {NAME} ({shipped_file(MODEL_DIR).name}: Whisper base's frozen encoder, a head trained here "
        "on five corpora)", "",
        f"Written by `bench/whisper_calibration.py` on {date.today()}; {len(table)} rows (the recipe's "
        "leave-one-corpus-out predictions and the shipped head's own logits).", "",
        f"**Rule** (declared before the first run): {RULE}", "",
        "Mean ECE over the five leave-one-corpus-out corpora: " + ", ".join(
            f"{c} {v:.3f}" for c, v in ece.loc[LOCO].mean().items()) + f". **Chosen: {chosen}.** Its largest rise of "
        f"one corpus's ECE over T = 1: {worse:+.3f} (allowed: {WORSE_BY}).", "",
        f"**Shipped record** (ONNX metadata key `calibration`): `{json.dumps({k: v for k, v in record.items() if k != 'rule'})}`",
        "", *[f"- {line}" for line in shipped], "",
        "Per corpus: ECE of each candidate (cross-corpus on the LOCO corpora: leave one corpus out; elsewhere the "
        "shipped T), then the chosen candidate's clips, accuracy, UA, T, share of `uncertain` windows and the "
        "accuracy of the others. `loco_*`: the recipe's fold heads; `validation`, `turev`, `ravdess`: this model.",
        "", ece.add_prefix("ECE ").join(figures).round(3).to_markdown(), ""])
    write_atomic(RESULTS/"whisper_calibration.md", text)
    print(text)


if __name__ == "__main__":
    main()
