"""Figures of distilser's default model (log-mel CNN trained from scratch on CREMA-D): cross-validation, RAVDESS, int8.

Reads the speaker-independent five-fold CREMA-D cross-validation run with the default model's recipe
(`distilser loso --cremad CREMA-D --backbone offline:melcnn --lr 0.001 --window-seconds 4 --snr-noise 0.5 --out DIR`,
the options of `recipe_options(DEFAULT_RECIPE)`; refused if the run's recorded settings are another recipe's),
evaluates the model's fp32 and int8 files on all 672 four-class RAVDESS clips (the file distilser runs, by the export
chapter's shipping rule, first), times both on one 4 s window (interleaved, 1 and 2 threads), writes
bench/results/default_model_*.md and the confusion figure, and rewrites the model card (models/<name>/README.md) with
the same tables. Without --cv, the committed cross-validation table and the card's cross-validation figures stay.

    nice .venv/bin/python bench/default_model.py --cv runs/cremad_cv_v2 --ravdess ../shared/data/ravdess \
        --previous runs/cremad_cv   # optional: an earlier recipe's cross-validation, over the same folds
"""
import argparse, json, os, shutil, time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from distilser.data import REPO_ROOT, ravdess_manifest, sample_cremad_root, cremad_manifest
from distilser.default_model import (CREMAD_CITATION, CREMAD_MODEL, DEFAULT_RECIPE, card_results,
                                     default_model_results,
                                     file_column, int8_fidelity, model_card)
from distilser.evaluate import comparison_table, evaluate
from distilser.export import OnnxClassifier, shipped_file
from distilser.int8_speed import cpu_label, latencies
from distilser.loso import SUMMARY_METRICS, fold_metrics, recipe_options, recorded_recipe, summarize
from distilser.preprocessing import SAMPLE_RATE, load_clip

RESULTS = REPO_ROOT/"bench"/"results"
LABEL = ("distilser default model (log-mel CNN trained from scratch on CREMA-D by this project; not the paper's "
         "pretrained DistilHuBERT)")
TARGETS = dict(cv_ua=0.60, ravdess_ua=0.46, recall_sadness=0.30, shipped_mb=5.0, agreement=0.99, ua_change_points=0.5)


def cv_table(cv_dir) -> tuple[pd.DataFrame, float, str]:
    """Mean ± std and per-fold test metrics of a CREMA-D cross-validation, which must have run `DEFAULT_RECIPE`, its
    mean UA, and how many of its folds have finished (the run resumes fold by fold, so it may still be going)."""
    configs = [json.loads(p.read_text()) for p in sorted(Path(cv_dir).glob("fold_*/config.json"))]
    for config in configs:
        recorded = recorded_recipe(config["settings"])
        if recorded != DEFAULT_RECIPE: raise SystemExit(f"{cv_dir}: a fold ran {recorded}, not the default recipe")
    table = summarize(cv_dir)
    folds = [i for i in table.index if i.startswith("fold_")]
    nice = pd.DataFrame({"mean ± std": [f"{table.loc['mean', m]:.3f} ± {table.loc['std', m]:.3f}"
                                        for m in SUMMARY_METRICS],
                         **{f: [f"{table.loc[f, m]:.3f}" for m in SUMMARY_METRICS] for f in folds}},
                        index=SUMMARY_METRICS)
    planned = configs[0]["settings"]["n_folds"]
    return nice, float(table.loc["mean", "ua"]), f"{len(folds)} of {planned} folds finished"


def previous_column(cv_dir, folds: list) -> pd.DataFrame:
    "An earlier recipe's mean ± std over the same `folds` (the same actors), headed with the options that made it."
    recipe = recorded_recipe(json.loads(next(Path(cv_dir).glob("fold_*/config.json")).read_text())["settings"])
    m = fold_metrics(cv_dir).loc[folds, SUMMARY_METRICS]
    return pd.DataFrame({f"earlier recipe, same folds: {recipe_options(recipe)}":
                         [f"{m[c].mean():.3f} ± {m[c].std():.3f}" for c in SUMMARY_METRICS]}, index=SUMMARY_METRICS)


def window_of_speech(seconds: float) -> np.ndarray:
    "Real CREMA-D speech, preprocessed clips put end to end, cut to `seconds`."
    clips = [load_clip(p) for p in cremad_manifest(sample_cremad_root()).path[:8]]
    return np.concatenate(clips)[:round(seconds * SAMPLE_RATE)][None].astype(np.float32)


def latency_table(fp32: Path, int8: Path, repeats: int) -> pd.DataFrame:
    "ms per 4 s window of real speech of both files, 1 and 2 threads, timed interleaved; int8 / fp32 ratio."
    x, speed = window_of_speech(4.0), []
    for threads in (1, 2):
        t = latencies([fp32, int8], x, threads, repeats)
        speed.append(dict(threads=threads, fp32_ms=1000 * t[fp32], int8_ms=1000 * t[int8], ratio=t[int8] / t[fp32]))
    return pd.DataFrame(speed)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cv", help="the LOSO output directory of the CREMA-D cross-validation (default: keep the committed table)")
    p.add_argument("--ravdess", required=True, help="the full RAVDESS root (672 four-class clips)")
    p.add_argument("--previous", help="an earlier recipe's cross-validation directory, its mean ± std shown beside")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    model_dir = REPO_ROOT/"models"/CREMAD_MODEL
    fp32, int8 = model_dir/"model.onnx", model_dir/"model.int8.onnx"
    runs = shipped_file(model_dir)
    other = int8 if runs == fp32 else fp32
    if args.cv:
        cv, cv_ua, finished = cv_table(args.cv)
        if args.previous: cv = cv.join(previous_column(args.previous, [c for c in cv.columns if c.startswith('fold_')]))
    else:  # the committed cross-validation (its runs are not on every machine): its table and the card's figures
        committed = (RESULTS/"default_model_cv.md").read_text()
        cv_means = next(r["metrics"] for r in card_results((model_dir/"README.md").read_text()) if r["dataset"] == "CREMA-D")
        cv_ua, finished = cv_means["ua"], committed.split("**")[1]
    manifest = ravdess_manifest(args.ravdess)
    reports = REPO_ROOT/"runs"/"default_model_ravdess"
    results = {path.name: evaluate(path, manifest, out_dir=reports/path.stem, progress=False) for path in (fp32, int8)}
    m = results[runs.name]
    ravdess = comparison_table(m, file_column(runs, runs=True)).join(
        comparison_table(results[other.name], file_column(other)).iloc[:, 1:])
    fidelity = int8_fidelity(reports)
    speed = latency_table(fp32, int8, args.repeats)
    sizes = pd.DataFrame([dict(file=f.name, MB=f.stat().st_size / 1e6) for f in (fp32, int8)])
    checks = {f"CREMA-D five-fold UA ≥ {TARGETS['cv_ua']} ({finished})": cv_ua >= TARGETS["cv_ua"],
              f"RAVDESS UA ({runs.name}) ≥ {TARGETS['ravdess_ua']}": m["ua"] >= TARGETS["ravdess_ua"],
              f"RAVDESS sadness recall ≥ {TARGETS['recall_sadness']}":
                  m["recall_sadness"] >= TARGETS["recall_sadness"],
              f"the file it runs ≤ {TARGETS['shipped_mb']} MB": runs.stat().st_size / 1e6 <= TARGETS["shipped_mb"],
              f"int8/fp32 top-1 agreement on RAVDESS ≥ {TARGETS['agreement']:.0%}":
                  fidelity.agreement[0] >= TARGETS["agreement"],
              f"UA change int8 vs fp32 ≤ {TARGETS['ua_change_points']} points":
                  abs(fidelity.ua_change_points[0]) <= TARGETS["ua_change_points"]}
    for line, ok in checks.items(): print(("met:    " if ok else "missed: ") + line)
    loso_command = f"distilser loso --cremad CREMA-D {recipe_options(DEFAULT_RECIPE)} --out {args.cv}"
    previous = f" --previous {args.previous}" if args.previous else ""
    cv_option = f"--cv {args.cv} " if args.cv else ""
    stamp = f"{date.today()}, `nice .venv/bin/python bench/default_model.py {cv_option}--ravdess RAVDESS{previous}`"
    RESULTS.mkdir(exist_ok=True)
    if args.cv: (RESULTS/"default_model_cv.md").write_text(
        "# Default model: speaker-independent five-fold cross-validation on CREMA-D\n\n" + cv.to_markdown() + "\n\n"
        f"{LABEL}. CREMA-D's 91 actors dealt into five buckets; each fold tests one, validates (early stopping, best "
        f"epoch) on the next and trains on the other three; test metrics; std over folds (ddof 1); **{finished}** "
        f"(the same command resumes at the first unfinished fold). Recipe: `{loso_command}`; {stamp}.\n")
    (RESULTS/"default_model_ravdess.md").write_text(
        "# Default model on RAVDESS (cross-corpus), the file it runs and its int8 file\n\n" + ravdess.to_markdown() + "\n\n"
        + fidelity.to_markdown(index=False) + "\n\n" + sizes.to_markdown(index=False, floatfmt=".2f") + "\n\n"
        + speed.to_markdown(index=False, floatfmt=".3g") + "\n\n"
        + "\n".join(f"- {'met' if ok else '**missed**'}: {line}" for line, ok in checks.items()) + "\n\n"
        f"{LABEL}, on all {m['n_clips']} four-class RAVDESS clips (never used in training, calibration or any choice); "
        f"the paper's column is its production model (pretrained DistilHuBERT on IEMOCAP). Latency: one 4 s window of "
        f"real speech, median of {args.repeats} interleaved runs; the same CPU scored both files: {cpu_label()}, load average "
        f"{os.getloadavg()[0]:.1f}; {stamp}.\n")
    shutil.copy(reports/runs.stem/"confusion.png", RESULTS/"default_model_confusion.png")
    cv_title = f"CREMA-D, five-fold speaker-independent cross-validation ({finished})"
    card = (model_dir/"README.md").read_text()
    tables = {cv_title: cv.to_markdown() if args.cv else card.split(f"### {cv_title}\n\n", 1)[1].split("\n\n###", 1)[0],
              "RAVDESS, 672 four-class clips (cross-corpus)": ravdess.to_markdown(),
              "int8 against fp32 on RAVDESS": fidelity.to_markdown(index=False),
              f"Latency on one 4 s window ({cpu_label()})":
                  speed.to_markdown(index=False, floatfmt=".3g")}
    command = (f"distilser default-model --cremad CREMA-D --ravdess RAVDESS --out models/{CREMAD_MODEL}\n{loso_command}"
               if args.cv else card.split("## Recipe\n\n```\n", 1)[1].split("\n```", 1)[0])
    if args.cv:
        means = summarize(args.cv).loc["mean"]  # rounded as the table above shows them, so the card's header quotes it
        cv_means = {k: round(float(means[k]), 3) for k in ("wa", "ua", "macro_f1")}
    results = default_model_results(model_dir/"checkpoint", cv_means, dict(m, wa=m["accuracy"]))  # evaluate's accuracy is WA
    (model_dir/"README.md").write_text(model_card(CREMAD_MODEL, model_dir, command, tables, results))
    print((RESULTS/"default_model_ravdess.md").read_text())


if __name__ == "__main__":
    main()
