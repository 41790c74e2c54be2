"""Figures of a shipped model trained on several corpora, the recipe that leave-one-corpus-out chose, into its card.

Refuses unless bench/results/loco_choice.json (written by bench/loco.py) names a recipe that the rule in force chose
and that meets the shipping condition, and unless the model's checkpoint recorded that very recipe. Then it scores
the file the model runs (the export chapter's shipping rule) and the CREMA-D-only model (cremad-melcnn-v2) on the corpora neither trained on (RAVDESS and
TurEV-DB: every four-class clip), writes bench/results/multi_corpus_model.md, and writes the model card
(models/NAME/README.md) again with three more tables: the recipe's leave-one-corpus-out figures (the seeds' means per
target, against CREMA-D-only training), its CREMA-D cross-validation (bench/results/loco_cv.csv, all five folds:
the depth the recipe gives up), the two test-only corpora, and its int8 file against its fp32 file on RAVDESS.

The model itself is built by `distilser default-model` with the chosen recipe's options (its card holds the command):

    nice .venv/bin/python bench/multi_corpus_model.py --model models/five-corpora-melcnn-v1 \
        --corpora /work/corpora --ravdess ../shared/data/ravdess
"""
import argparse, json, time
from datetime import date
from pathlib import Path

import pandas as pd

from distilser.core import LABELS
from distilser.data import REPO_ROOT, load_corpora
from distilser.default_model import corpus_card, default_model_results, int8_fidelity, rewrite_card
from distilser.evaluate import evaluate, predict_clips
from distilser.export import open_model, shipped_file
from distilser.int8_speed import cpu_label
from distilser.loco import corpus_scores
from distilser.loso import recipe_options, recorded_recipe

from corpora import FOLDERS  # where each corpus lies below --corpora
from default_model import latency_table  # the default model's figures: the same timing
from loco import CREMAD_ONLY, DEPTH_TARGET, TARGETS

RESULTS = REPO_ROOT/"bench"/"results"
SCORES = ["ua", "min_recall", *[f"recall_{l}" for l in LABELS]]


def chosen_recipe(model_dir: Path) -> dict:
    "loco_choice.json, once checked: a recipe was chosen, it ships, and the model's checkpoint trained with it."
    choice = json.loads((RESULTS/"loco_choice.json").read_text())
    if not choice.get("chosen"): raise SystemExit("bench/loco.py's rule chose no recipe: nothing to ship")
    if not choice["ships"]: raise SystemExit(f"{choice['chosen']}: chosen, but fails the shipping condition")
    settings = json.loads((model_dir/"checkpoint"/"training.json").read_text())["settings"]
    mine = (recipe_options(recorded_recipe(settings)), settings.get("model_overrides"))
    if mine != (choice["options"], choice["model_overrides"]):
        raise SystemExit(f"{model_dir}: trained with {mine}, not the chosen recipe "
                         f"{(choice['options'], choice['model_overrides'])}")
    return choice


def loco_table(choice: dict) -> pd.DataFrame:
    """The chosen recipe's leave-one-corpus-out UA and lowest recall per target (the seeds' mean) beside CREMA-D-only
    training's, and their means over the four targets other than CREMA-D (the shipping condition)."""
    seeds = pd.read_csv(RESULTS/"loco_seeds.csv")
    mine = seeds[(seeds.recipe == choice["chosen"]) & seeds.target.isin(TARGETS)].set_index("target")
    loco = pd.read_csv(RESULTS/"loco.csv")
    base = loco[loco.model == f"CREMA-D only ({CREMAD_ONLY})"].set_index("corpus")
    table = pd.DataFrame({"UA, this recipe (mean of its seeds)": mine.filter(like="UA, seed").mean(axis=1),
                          "lowest recall, this recipe": mine.filter(like="lowest recall, seed").mean(axis=1),
                          f"UA, CREMA-D only ({CREMAD_ONLY})": base.ua,
                          "lowest recall, CREMA-D only": base.min_recall}).reindex(TARGETS)
    table.loc["mean of the four others"] = table.loc[TARGETS[1:]].mean()
    table.index = [corpus_card(c)[0] if c in TARGETS else c for c in table.index]
    return table.astype(float).round(3)


def cv_table(choice: dict) -> tuple[pd.DataFrame, dict]:
    """The chosen recipe's CREMA-D five-fold cross-validation with the four other corpora added (loco_cv.csv, all five
    folds) beside the default model's on CREMA-D alone, and its means for the card's header."""
    cv = pd.read_csv(RESULTS/"loco_cv.csv")
    mine = cv[cv.recipe == choice["chosen"]].set_index("metric")
    if mine.empty or int(mine.folds.iloc[0]) != 5:
        raise SystemExit(f"{choice['chosen']}: its CREMA-D cross-validation has not finished (bench/loco.py, CV_RUNS)")
    table = mine[["CREMA-D alone", "+ ASED, URDU, EMOVO, EmoDB"]].rename(columns={
        "CREMA-D alone": f"CREMA-D alone ({CREMAD_ONLY}'s recipe)", "+ ASED, URDU, EMOVO, EmoDB": "this recipe"})
    return table.round(3), {k: float(mine.loc[k, "+ ASED, URDU, EMOVO, EmoDB"]) for k in ("wa", "ua", "macro_f1")}


def test_only_table(model_dir: Path, corpora: Path, ravdess: Path) -> tuple[pd.DataFrame, dict]:
    """Both models (the files they run) on every four-class clip of RAVDESS and TurEV-DB (neither trained on them): UA,
    lowest recall and each class's recall; and this model's RAVDESS metrics for its card's header."""
    manifest = load_corpora(dict(ravdess=ravdess, turev=corpora/FOLDERS["turev"]))
    parts, ravdess_metrics = {}, None
    models = {model_dir.name: open_model(model_dir), CREMAD_ONLY: open_model(CREMAD_ONLY)}
    for name, model in models.items():
        preds = predict_clips(model, manifest, progress=False).rename(columns=dict(prediction="predicted"))
        scores = corpus_scores(preds)
        parts[name] = scores[SCORES]
        if name == model_dir.name:
            r = scores.loc["ravdess"]
            ravdess_metrics = dict(n_clips=int(r.clips), wa=float(r.wa), ua=float(r.ua))
    table = pd.concat(parts, names=["model", "corpus"]).reset_index()
    table["corpus"] = table.corpus.map(lambda c: corpus_card(c)[0])
    return table.sort_values("corpus", kind="stable").round(3), ravdess_metrics


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="the model folder (models/NAME)")
    ap.add_argument("--corpora", type=Path, required=True, help="folder holding TurEV (bench/corpora.py's layout)")
    ap.add_argument("--ravdess", type=Path, required=True)
    args = ap.parse_args()
    start = time.time()
    choice = chosen_recipe(args.model)
    loco, (depth, cv_metrics) = loco_table(choice), cv_table(choice)
    test_only, ravdess_metrics = test_only_table(args.model, args.corpora, args.ravdess)
    titles = dict(loco=f"Leave-one-corpus-out: its recipe, not this model ({choice['chosen']})",
                  depth="CREMA-D five-fold cross-validation: its recipe with the four other corpora added, not this "
                        "model",
                  test_only="Corpora it never heard: RAVDESS and TurEV-DB, against the CREMA-D-only model")
    reports = REPO_ROOT/"runs"/"multi_corpus_ravdess"
    for f in ("model.onnx", "model.int8.onnx"):
        evaluate(args.model/f, load_corpora(dict(ravdess=args.ravdess)), out_dir=reports/Path(f).stem, progress=False)
    fidelity = int8_fidelity(reports)
    speed = latency_table(args.model/"model.onnx", args.model/"model.int8.onnx", repeats=20)
    tables = {titles["loco"]: loco.to_markdown(), titles["depth"]: depth.to_markdown(),
              titles["test_only"]: test_only.to_markdown(index=False),
              "int8 against fp32 on RAVDESS": fidelity.to_markdown(index=False),
              f"Latency on one 4 s window ({cpu_label()})": speed.to_markdown(index=False, floatfmt=".3g")}
    training = json.loads((args.model/"checkpoint"/"training.json").read_text())
    results = default_model_results(args.model/"checkpoint", cv=cv_metrics, ravdess=ravdess_metrics,
                                    corpora=list(training["training_data"]["corpora"]))
    rewrite_card(args.model, results, tables)
    lines = [f"# {args.model.name}: a model of several corpora", "",
             f"Trained here from random weights by `distilser default-model` with the recipe bench/loco.py's rule "
             f"chose ({choice['chosen']}; options `{choice['options']}`, model {choice['model_overrides']}).", "",
             f"## {titles['loco']}", "",
             "Each target scored by the LOCO fold that left it out (the recipe trained on the other four corpora), "
             "the mean over the recipe's seeds; CREMA-D-only training has no CREMA-D row (its own cross-validation "
             "is in the default model's chapter).", "", loco.to_markdown(), "",
             f"Shipping condition (bench/loco.py): {choice['mean_ua_other_targets']:.3f} against "
             f"{choice['cremad_only_mean_ua_other_targets']:.3f}: {'met' if choice['ships'] else 'not met'}.", "",
             f"## {titles['depth']}", "",
             "The same CREMA-D actors tested, validated and trained on in each fold; the issue's depth target for a "
             f"default model is UA >= {DEPTH_TARGET}, so by bench/loco.py's default-model rule this model is "
             f"{'the default' if choice['default'] else 'not the default'}.", "", depth.to_markdown(), "",
             f"## {titles['test_only']}", "", test_only.to_markdown(index=False), "",
             f"The model's scores are those of the file it runs, `{shipped_file(args.model).name}`.", "",
             "## int8 against fp32 on RAVDESS", "", fidelity.to_markdown(index=False), "",
             "## Latency on one 4 s window", "", "Real speech, median of 20 interleaved runs, the same CPU for both files.",
             "", speed.to_markdown(index=False, floatfmt=".3g"), "",
             f"CPU: {cpu_label()}; {date.today()}; `nice .venv/bin/python bench/multi_corpus_model.py --model "
             f"{args.model} --corpora CORPORA --ravdess RAVDESS`, {(time.time() - start) / 60:.1f} min."]
    (RESULTS/"multi_corpus_model.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
