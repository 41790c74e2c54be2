"""Breadth against depth, for every LOCO recipe at once: what each recipe scores on CREMA-D speakers it never trained on.

The issue's depth target is CREMA-D five-fold cross-validation UA >= 0.66 for the shipped recipe: five trainings per
recipe. The LOCO runs already hold a cheaper view of the same question. Each fold that trained on CREMA-D kept a
random 10 % of its actors (its `validation_speakers`) out of training; this script scores every such fold's
checkpoint on those actors' CREMA-D clips and averages over the four folds. It is a screen, not the target: the same
actors (with the other corpora's validation speakers) chose the checkpoint's epoch, so its figures flatter every
recipe somewhat, and equally. `bench/results/loco_cv.md` holds the real cross-validation of the recipes that have run
it (bench/loco.py's CV_RUNS), and this table shows both where both exist, so the screen can be read against them.

Writes bench/results/loco_depth.md and .csv, and loco_depth.png (each recipe's mean LOCO UA, seeds' mean, against
its CREMA-D screen). Screens the runs named in bench/loco.py whose checkpoints are below --runs, and keeps each run's
screen in its record (bench/results/loco_runs/<run>/screen.csv); a run screened elsewhere is read from there, and the
runs lost before records were kept from the screen their recipe's legacy record holds. Trains nothing (a few minutes
on one core).

    nice .venv/bin/python bench/loco_depth.py --runs runs --corpora CORPORA
"""
import argparse, json
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from distilser.core import FROM_SCRATCH_NOTE, write_atomic
from distilser.data import load_corpora
from distilser.evaluate import predict_clips
from distilser.export import open_model
from distilser.loco import corpus_scores

from corpora import FOLDERS
from loco import DEFAULT_CV, DEPTH_TARGET, RECIPES, RECORDS, RESULTS, legacy, recipe_rows, seed_runs

CV_COLUMN = "+ ASED, URDU, EMOVO, EmoDB"  # loco_cv.csv's column of the cross-validation with the other corpora

def fold_screen(fold_dir: Path, cremad: pd.DataFrame) -> dict:
    "One LOCO fold's checkpoint on the CREMA-D actors it held out for validation: UA, lowest recall, clips."
    speakers = json.loads((fold_dir/"config.json").read_text())["validation_speakers"]
    clips = cremad[cremad.speaker.astype(str).isin(speakers)]
    preds = predict_clips(open_model(fold_dir/"checkpoint", num_threads=1), clips, progress=False)  # beside a training
    s = corpus_scores(preds.rename(columns=dict(prediction="predicted"))).iloc[0]
    return dict(ua=s.ua, min_recall=s.min_recall, clips=len(preds))


def run_screen(run: Path, cremad: pd.DataFrame) -> pd.DataFrame:
    "Every finished fold of `run` that trained on CREMA-D, screened (one row per fold)."
    folds = [f for f in sorted(run.glob("fold_*")) if (f/"metrics.json").is_file() and f.name != "fold_cremad"]
    return pd.DataFrame([dict(fold=f.name, **fold_screen(f, cremad)) for f in folds])


def kept_screen(record: Path, runs: Path, cremad: pd.DataFrame) -> pd.DataFrame:
    """The screen of one run: of its checkpoints below `runs` where they are (then kept in `record`/screen.csv), else
    the one kept in its record; empty if neither is here."""
    if any((runs/record.name).glob("fold_*/checkpoint")):
        screen = run_screen(runs/record.name, cremad)
        write_atomic(record/"screen.csv", screen.to_csv(index=False))
        return screen
    return pd.read_csv(record/"screen.csv") if (record/"screen.csv").is_file() else pd.DataFrame()


def recipe_screen(name: str, runs: Path, cremad: pd.DataFrame) -> dict | None:
    """A recipe's screen over its runs: the legacy screen of the runs lost before records were kept (its seed 0's
    legacy record), with every other run's `kept_screen`, weighted by folds; None if no fold is screened."""
    old = (legacy(RECORDS/RECIPES[name]) or {}).get("screen") or dict(runs=[], folds=0, ua=0.0, min_recall=0.0)
    screens = {r.name: kept_screen(r, runs, cremad)
               for r in seed_runs(RECORDS, name).values() if r.name not in old["runs"]}
    new = pd.concat([s for s in screens.values() if len(s)] or [pd.DataFrame(columns=["ua", "min_recall"])])
    folds = old["folds"] + len(new)
    if not folds: return None
    return dict(runs=len(old["runs"]) + sum(1 for s in screens.values() if len(s)), folds=folds,
                cremad_screen_ua=(old["ua"] * old["folds"] + new.ua.sum()) / folds,
                cremad_screen_min_recall=(old["min_recall"] * old["folds"] + new.min_recall.sum()) / folds)


def cv_figures() -> pd.DataFrame:
    "Each cross-validated recipe's CREMA-D UA with the other corpora added, and its finished folds (loco_cv.csv)."
    cv = pd.read_csv(RESULTS/"loco_cv.csv")
    return cv[cv.metric == "ua"].set_index("recipe")[[CV_COLUMN, "folds"]]


def default_cv_line() -> str:
    "The default model's recipe's cross-validation, which has no row above (its LOCO twin trains 14 epochs, not 25)."
    cv = cv_figures()
    if DEFAULT_CV not in cv.index: return ""
    return (f"Not in the table: {DEFAULT_CV}, 25 epochs on pooled draws, cross-validates at UA "
            f"{cv.loc[DEFAULT_CV, CV_COLUMN]:.3f} with the other corpora added ({cv.loc[DEFAULT_CV, 'folds']} of 5 "
            "folds); the first row is its 14-epoch twin.")


def loco_figures(rules: pd.Series) -> dict:
    "A recipe's two LOCO figures: its seeds' means once a run has all five folds, else seed 0's so far, and which."
    runs = int(rules.seeds.split(" of ")[0])  # the runs with all five folds finished
    seeds = runs > 0
    return dict(loco_figures=f"mean of {runs} run{'s' * (runs > 1)}, all folds" if seeds else f"seed 0, {rules.folds} folds",
                mean_loco_ua=rules.seeds_mean_loco_ua if seeds else rules.mean_loco_ua,
                mean_lowest_recall=rules.seeds_mean_lowest_recall if seeds else rules.mean_lowest_recall)


def screen_table(runs: Path, cremad: pd.DataFrame, loco: pd.DataFrame) -> pd.DataFrame:
    "Per recipe: the screen (mean over its runs' folds), the runs read, its LOCO figures and its cross-validation."
    rows, cv = [], cv_figures()
    for name in tqdm(RECIPES, desc="recipes"):
        screen = recipe_screen(name, runs, cremad)
        if screen is None: continue  # no finished fold that trained on CREMA-D yet
        rows.append(dict(recipe=name, **screen, cremad_cv_ua=cv[CV_COLUMN].get(name),
                         cremad_cv_folds=f"{cv.folds[name]} of 5" if name in cv.index else "",
                         **loco_figures(loco.loc[name])))
    return pd.DataFrame(rows)


def plot_screen(table: pd.DataFrame):
    "Breadth (mean LOCO UA, `loco_figures`) against depth (the CREMA-D screen), one point per recipe."
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ax.scatter(table.mean_loco_ua, table.cremad_screen_ua, c=table.mean_lowest_recall, cmap="viridis", s=60,
               vmin=0.1, vmax=0.3)
    for i, r in table.iterrows():
        partial = "" if r.loco_figures.startswith("mean") else " (seed 0 so far)"  # not a finished run
        ax.annotate(f"{i + 1}{partial}", (r.mean_loco_ua, r.cremad_screen_ua), xytext=(5, 3), textcoords="offset points")
    checked = table.dropna(subset=["cremad_cv_ua"])
    ax.vlines(checked.mean_loco_ua, checked.cremad_cv_ua, checked.cremad_screen_ua, colors="grey", lw=0.8)
    ax.scatter(checked.mean_loco_ua, checked.cremad_cv_ua, marker="x", color="black",
               label="its CREMA-D cross-validation (other corpora added)")
    ax.axhline(DEPTH_TARGET, ls="--", color="grey", label=f"depth target of the cross-validation ({DEPTH_TARGET})")
    ax.legend(loc="lower left", fontsize=8)
    ax.set(xlabel="breadth: mean LOCO UA over the five targets (seeds' mean, or seed 0 so far)",
           ylabel="depth: UA on held-out CREMA-D actors (LOCO folds' validation)",
           title="Each recipe's breadth against its depth (numbers: rows of loco_depth.md)")
    fig.colorbar(ax.collections[0], label="mean lowest class recall (LOCO)")
    fig.tight_layout()
    return fig


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, required=True, help="folder holding the LOCO and CV runs named in bench/loco.py")
    p.add_argument("--corpora", type=Path, required=True, help="folder holding CREMA-D (as bench/corpora.py names it)")
    a = p.parse_args()
    cremad = load_corpora({"cremad": a.corpora/FOLDERS["cremad"]})
    loco = recipe_rows()[1].set_index("recipe")
    table = screen_table(a.runs, cremad, loco)
    write_atomic(RESULTS/"loco_depth.csv", table.to_csv(index=False))
    shown = table.assign(recipe=[f"{i + 1}. {r}" for i, r in enumerate(table.recipe)])
    write_atomic(RESULTS/"loco_depth.md", "\n\n".join([
        "# Breadth against depth: each LOCO recipe on CREMA-D actors it never trained on",
        f"**{FROM_SCRATCH_NOTE}**: log-mel CNNs trained by this project from random weights on the corpora each LOCO "
        "fold names. `cremad_screen_ua`: the mean, over every run (`runs`: seeds) and every fold that trained on "
        "CREMA-D (`folds`), of the fold checkpoint's UA on the CREMA-D actors it held out for validation (about 9 "
        "actors, 700 clips a fold). Those actors also chose the checkpoint's epoch, so the screen flatters every "
        "recipe a little. `cremad_cv_ua`: the recipe's CREMA-D five-fold cross-validation with the other corpora "
        "added (test actors chose nothing), where it has run; the issue's depth target is >= 0.66 there. "
        "`mean_loco_ua`, `mean_lowest_recall`: the rule's figures from bench/results/loco.md, over the seeds' runs that "
        "have finished (`loco_figures`), or seed 0's folds so far while none has.",
        shown.to_markdown(index=False, floatfmt=".3f"),
        default_cv_line(),
        f"{date.today()}; `nice .venv/bin/python bench/loco_depth.py --runs runs --corpora CORPORA`."]) + "\n")
    plot_screen(table).savefig(RESULTS/"loco_depth.png", dpi=110)
    print(shown.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
