"""Leave one corpus out: the recipes tried, the rule that chooses among them, and CREMA-D-only training beside them.

Each recipe is one `distilser loco` run over the five corpora that may train (CREMA-D, ASED, URDU, EMOVO, EmoDB),
with RAVDESS and TurEV-DB tested by every fold and never trained on. This script keeps each declared run's finished
folds in bench/results/loco_runs (a run resumes fold by fold, so it may still be going; the record outlives the
machine, and a run copied back from it resumes there), builds every table from those records, evaluates the
CREMA-D-only default model (`cremad-melcnn-v2`, int8) on the same target corpora, applies the rule below, and writes
bench/results/loco.md, loco.csv, loco_sadness.csv (where each target's sad clips go), loco_seeds.csv (each seed's
figures), loco_seeds_to_go.csv (what the seeds still to run would need), loco.png (per corpus, the chosen recipe,
else the one of highest mean UA) and loco_recipes.png (every recipe's two rule figures).

The first rule (RULE_V1 below, single runs) was declared in this file before the first LOCO run (2026-12-04). The
second (RULE, means over three seeds) was declared on 2026-12-04 (third session) before the run of the third seed,
once a second seed of the best recipe had moved its lowest recall across the floor (see RERUNS). A third,
DEFAULT_RULE, declared on 2026-12-05 (fourth session), makes the issue's depth target a condition of the default
model. None is changed after its results; every verdict is reported. RAVDESS and TurEV-DB never enter any.

    nice .venv/bin/distilser loco --cremad CREMA-D --ased ASED --urdu URDU --emovo EMOVO --emodb EmoDB \\
        --ravdess RAVDESS --turev TurEV --backbone offline:melcnn --lr 0.001 --window-seconds 4 --snr-noise 0.5 \\
        --epochs 14 --out runs/loco_pooled
    # the other recipes: the same + --utterance-cmn --out runs/loco_cmn; + --balance-corpora --out runs/loco_balanced;
    # + --eq-change 0.5 --out runs/loco_eq; + --corpus-adversary 0.3 --out runs/loco_adversary;
    # + --balance-corpora --utterance-cmn --out runs/loco_balanced_cmn;
    # + --balance-corpora --utterance-cmn --corpus-adversary 0.3 --out runs/loco_balanced_cmn_adv;
    # + --balance-corpora --utterance-cmn --channels 24 48 96 192 --out runs/loco_balanced_cmn_wide;
    # + --balance-corpora --utterance-cmn --tempo-change 0.5 --out runs/loco_balanced_cmn_tempo;
    # and the reruns (RERUNS): + --balance-corpora --utterance-cmn --seed 1 --out runs/loco_balanced_cmn_seed1 (and 2);
    # + --balance-corpora --utterance-cmn --tempo-change 0.5 --seed 1 --out runs/loco_balanced_cmn_tempo_seed1 (and 2);
    # + --balance-corpora --balance-power 0.5 --utterance-cmn --tempo-change 0.5 --out runs/loco_sqrt_cmn_tempo
    #   (and --seed 1 --out runs/loco_sqrt_cmn_tempo_seed1, --seed 2 ... _seed2)
    # + --balance-corpora --utterance-cmn --tempo-change 0.5 --epochs 28 --out runs/loco_balanced_cmn_tempo_long
    #   (and --seed 1 ... _long_seed1, --seed 2 ... _long_seed2)
    # two stages: + --utterance-cmn --out runs/loco_cmn_stage1, then --init-from runs/loco_cmn_stage1 --epochs 6
    #   --lr 0.0003 --balance-corpora --tempo-change 0.5 --utterance-cmn --out runs/loco_cmn_finetune (and with
    #   --seed 1 both stages: _stage1_seed1, _finetune_seed1; --seed 2 ... _seed2)
    # (--folds CORPUS ... runs only some folds, so that two processes can share one run)
    nice .venv/bin/python bench/loco.py --runs runs --corpora CORPORA --ravdess ../shared/data/ravdess

The paper's CREMA-D question has a second half: does breadth cost depth? CREMA-D's own five-fold cross-validation,
run with the default recipe and the four other training corpora added to each fold's training side,
    nice .venv/bin/distilser loso --cremad CREMA-D --ased ASED --urdu URDU --emovo EMOVO --emodb EmoDB \\
        --backbone offline:melcnn --lr 0.001 --window-seconds 4 --snr-noise 0.5 --out runs/cremad_cv_pooled
is compared fold by fold (the same CREMA-D actors) with the default model's cross-validation on CREMA-D alone, whose
per-fold table bench/default_model.py committed (bench/results/default_model_cv.md). The recipe the rule chose (tempo
change, seeds' mean) has its own run, for the issue's depth target (CREMA-D cross-validation UA >= DEPTH_TARGET for a
multi-corpus recipe shipped as the default):
    nice .venv/bin/distilser loso --cremad CREMA-D --ased ASED --urdu URDU --emovo EMOVO --emodb EmoDB \\
        --backbone offline:melcnn --lr 0.001 --window-seconds 4 --snr-noise 0.5 --epochs 14 --balance-corpora \\
        --utterance-cmn --tempo-change 0.5 --out runs/cremad_cv_five
    # and the square-root recipe's: the same with --balance-power 0.5 --out runs/cremad_cv_sqrt
    # and the longer one's: the same as cremad_cv_five with --epochs 28 --out runs/cremad_cv_five_long
    # and the two-stage one's: its first stage's LOCO options (cremad_cv_pooled's with --epochs 14 --utterance-cmn)
    #   --out runs/cremad_cv_cmn_stage1, then
    #   --init-from runs/cremad_cv_cmn_stage1 --epochs 6 --lr 0.0003 --balance-corpora --tempo-change 0.5
    #   --utterance-cmn --out runs/cremad_cv_cmn_finetune
The script compares the records of the cross-validation runs of CV_RUNS (bench/results/loco_cv.md and .csv), after
checking that each run's folds recorded the recipe it is named after.
"""
import argparse, io, json, shutil, time
from datetime import date
from pathlib import Path

import pandas as pd

from distilser.core import FROM_SCRATCH_NOTE, LABELS, write_atomic
from distilser.data import REPO_ROOT, load_corpora
from distilser.evaluate import predict_clips
from distilser.export import open_model
from distilser.int8_speed import cpu_label
from distilser.loco import TEST_ONLY, corpus_scores, loco_summary, plot_loco
from distilser.default_model import DEFAULT_RECIPE
from distilser.loso import SUMMARY_METRICS, fold_metrics, model_options, recipe_options, recorded_recipe

from corpora import FOLDERS  # bench/corpora.py: where each corpus lies below --corpora

RESULTS = REPO_ROOT/"bench"/"results"
RECORDS = RESULTS/"loco_runs"  # every declared run's record, which the tables are built from (its README.md)
TARGETS = ["cremad", "ased", "urdu", "emovo", "emodb"]  # the corpora that may train: each is left out once
ALL_FOLDS = f"{len(TARGETS)} of {len(TARGETS)}"  # a run's `folds` figure once every fold has finished
CREMAD_ONLY = "cremad-melcnn-v2"  # the baseline: the shipped model trained on CREMA-D alone, by name
DEPTH_TARGET = 0.66  # the floor for CREMA-D cross-validation UA of a multi-corpus recipe shipped as the default
DEFAULT_CV = "the default model's recipe (DEFAULT_RECIPE)"  # a CREMA-D cross-validation run of DEFAULT_RECIPE, by name
RECIPES = {  # name -> run directory below --runs, in the order they were declared (simplest first)
    "pooled (DEFAULT_RECIPE, 14 epochs)": "loco_pooled",
    "pooled + per-clip log-mel mean removal": "loco_cmn",
    "pooled + corpus-balanced sampling": "loco_balanced",  # declared 2026-12-04, before its run (--balance-corpora)
    "pooled + random equaliser (half of the clips)": "loco_eq",  # declared 2026-12-04, before its run (--eq-change 0.5)
    # declared 2026-12-04, before its run (--corpus-adversary 0.3: below Ganin and Lempitsky's 1, as the focal loss's
    # gradients are smaller than cross-entropy's)
    "pooled + corpus adversary (gradient reversal, 0.3)": "loco_adversary",
    # declared 2026-12-04, before its run (--balance-corpora --utterance-cmn): the two levers that each lifted the
    # lowest recall on the pooled recipe (balanced draws: happiness; mean removal: sadness on URDU and ASED) together
    "pooled + corpus-balanced sampling + per-clip log-mel mean removal": "loco_balanced_cmn",
    # declared 2026-12-04 (second session), before its run (--balance-corpora --utterance-cmn --corpus-adversary 0.3):
    # the best recipe so far with the third lever that lifted the pooled recipe's lowest recall (0.115 -> 0.138)
    "pooled + corpus-balanced sampling + per-clip log-mel mean removal + corpus adversary (0.3)": "loco_balanced_cmn_adv",
    # declared 2026-12-04 (second session), before its run (--balance-corpora --utterance-cmn --channels 24 48 96 192):
    # the best recipe so far with more capacity (2.2 times the parameters) now that there is more data
    "pooled + corpus-balanced sampling + per-clip log-mel mean removal + wider CNN (24-48-96-192)": "loco_balanced_cmn_wide",
    # declared 2026-12-04 (third session), before its run (--balance-corpora --utterance-cmn --tempo-change 0.5): the
    # best recipe so far with speed perturbation (the training corpora speak four languages at their own rates)
    "pooled + corpus-balanced sampling + per-clip log-mel mean removal + tempo change (half of the clips)":
        "loco_balanced_cmn_tempo",
    # declared 2026-12-05 (fourth session), before its runs (--balance-corpora --balance-power 0.5 --utterance-cmn
    # --tempo-change 0.5), with its seeds 1 and 2 (RERUNS) and its CREMA-D cross-validation (CV_RUNS): the chosen
    # recipe with each corpus drawn by the square root of its size. Why: bench/results/loco_depth.md (CREMA-D actors
    # held out of the LOCO folds) shows equal draws costing the most depth of all the levers and mean removal none,
    # and the chosen recipe's first cross-validation folds fall far short of DEPTH_TARGET.
    "square-root corpus sampling + per-clip log-mel mean removal + tempo change (half of the clips)":
        "loco_sqrt_cmn_tempo",
    # declared 2026-12-05 (fifth session), before its runs (--balance-corpora --utterance-cmn --tempo-change 0.5
    # --epochs 28), with its seeds 1 and 2 (RERUNS) and its CREMA-D cross-validation (CV_RUNS): the chosen recipe
    # trained twice as long. Why: equal draws give CREMA-D (three fifths of the clips) a fifth of the draws, so in 14
    # epochs each CREMA-D clip is drawn about 4 times against 14 in pooled training, while EmoDB's are drawn about 60
    # times; loco_depth.md puts the lost depth on the draws. If the loss is exposure, not capacity, twice the epochs
    # win back part of it. Order of the runs (two cores): CREMA-D cross-validation folds first, with seed 0's LOCO
    # fold that leaves out EmoDB beside them; then the rest, resumed from bench/results/loco_runs.
    "pooled + corpus-balanced sampling + per-clip log-mel mean removal + tempo change (half of the clips), 28 epochs":
        "loco_balanced_cmn_tempo_long",
    # declared 2026-12-05 (sixth session), before its runs, with its seeds 1 and 2 (RERUNS), its CREMA-D
    # cross-validation (CV_RUNS) and their first stages (FIRST_STAGES): two stages. First, pooled training with
    # per-clip mean removal (the recipe "pooled + per-clip log-mel mean removal", run again with each fold's model
    # kept); then each fold's model fine-tuned for 6 epochs at 0.0003 (under a third of the first stage's peak rate)
    # on corpus-balanced draws with tempo change (`distilser loco --init-from RUN`, likewise `distilser loso`). Why:
    # pooled training keeps CREMA-D's depth (its cross-validation and screen: 0.687) and equal draws buy breadth at its
    # cost (the tempo recipe's cross-validation: 0.583); a short fine-tune on equal draws from the pooled model may
    # keep more of the first while gaining part of the second (09a's "What to try next"). Order of the runs (two
    # cores): the first stage's LOCO folds, each fold's fine-tune as soon as its first stage has finished; then the
    # cross-validation's two stages; then seeds 1 and 2, resumed from bench/results/loco_runs.
    "pooled + per-clip log-mel mean removal, then fine-tuned on corpus-balanced draws with tempo change (6 epochs)":
        "loco_cmn_finetune",
}
# A recipe run again with another --seed (the runs above use seed 0): seed -> run directory below --runs.
# Seed 1 was declared 2026-12-04 (third session), before its run, as reading only. Its first four folds moved the
# lowest recall on one target by 0.18 (EmoDB) and already put its five-fold mean lowest recall over the floor, where
# seed 0's is under it: a verdict read from one run is the seed's as much as the recipe's. RULE (below) was then
# declared, and seed 2 with it, before seed 2's run.
# Seeds 1 and 2 of the tempo recipe, the closest to the floor on one run (0.244), were declared 2026-12-05, after
# the first three seeds and before their own runs.
# Each recipe's CREMA-D five-fold cross-validation (`distilser loso --cremad ... --ased ... --urdu ... --emovo ...
# --emodb ...` with the recipe's options): recipe -> run directory below --runs. The square-root recipe's was declared
# with it (2026-12-05, fourth session).
CV_RUNS = {DEFAULT_CV: "cremad_cv_pooled",
           "pooled + corpus-balanced sampling + per-clip log-mel mean removal + tempo change (half of the clips)":
           "cremad_cv_five",
           "square-root corpus sampling + per-clip log-mel mean removal + tempo change (half of the clips)":
           "cremad_cv_sqrt",
           "pooled + corpus-balanced sampling + per-clip log-mel mean removal + tempo change (half of the clips), "
           "28 epochs": "cremad_cv_five_long",
           "pooled + per-clip log-mel mean removal, then fine-tuned on corpus-balanced draws with tempo change "
           "(6 epochs)": "cremad_cv_cmn_finetune"}
RERUNS = {"pooled + corpus-balanced sampling + per-clip log-mel mean removal":
          {1: "loco_balanced_cmn_seed1", 2: "loco_balanced_cmn_seed2"},
          "pooled + corpus-balanced sampling + per-clip log-mel mean removal + tempo change (half of the clips)":
          {1: "loco_balanced_cmn_tempo_seed1", 2: "loco_balanced_cmn_tempo_seed2"},
          "square-root corpus sampling + per-clip log-mel mean removal + tempo change (half of the clips)":
          {1: "loco_sqrt_cmn_tempo_seed1", 2: "loco_sqrt_cmn_tempo_seed2"},
          "pooled + corpus-balanced sampling + per-clip log-mel mean removal + tempo change (half of the clips), "
          "28 epochs": {1: "loco_balanced_cmn_tempo_long_seed1", 2: "loco_balanced_cmn_tempo_long_seed2"},
          "pooled + per-clip log-mel mean removal, then fine-tuned on corpus-balanced draws with tempo change "
          "(6 epochs)": {1: "loco_cmn_finetune_seed1", 2: "loco_cmn_finetune_seed2"}}
# The first stage of each two-stage run (a run of --init-from): run folder -> the run whose fold models it starts from.
FIRST_STAGES = {"loco_cmn_finetune": "loco_cmn_stage1", "loco_cmn_finetune_seed1": "loco_cmn_stage1_seed1",
                "loco_cmn_finetune_seed2": "loco_cmn_stage1_seed2", "cremad_cv_cmn_finetune": "cremad_cv_cmn_stage1"}
SEEDS = (0, 1, 2)  # RULE reads the mean of these seeds' runs
MIN_RECALL_FLOOR = 0.25  # chance is 0.25: a recipe below it gives a class up on the average target
TIE = 0.005              # a later (less simple) recipe must beat an earlier one by more than this
RULE_V1 = (f"Among the recipes whose five LOCO folds have finished, choose the highest mean LOCO UA over the five "
        f"target corpora ({', '.join(TARGETS)}), among those whose mean lowest class recall over the same targets is "
        f"at least {MIN_RECALL_FLOOR}; a recipe listed later replaces an earlier one only if its mean UA is more than "
        f"{TIE} higher. The chosen recipe is trained on all five corpora and ships only if it also beats CREMA-D-only "
        f"training ({CREMAD_ONLY}) in mean UA over the four targets other than CREMA-D. RAVDESS and TurEV-DB are "
        "reported after the choice and never used for it.")
# The default-model rule, declared 2026-12-05 (fourth session), before any run of the square-root recipe and before
# the chosen recipe's cross-validation had finished: the depth target made a condition of the default.
DEFAULT_RULE = (f"A multi-corpus recipe replaces {CREMAD_ONLY} as the default model only if it is the recipe the rule "
                "in force chooses, it meets the shipping condition, and its CREMA-D five-fold cross-validation (the "
                f"four other corpora added to every fold's training side, all five folds finished) reaches UA >= "
                f"{DEPTH_TARGET}; otherwise the chosen recipe ships under its own name beside the default. The CREMA-D "
                "screen of bench/loco_depth.py orders which recipes are cross-validated first and decides nothing.")
RULE = (f"As the first rule, with each recipe's two figures (mean LOCO UA and mean lowest class recall over the five "
        f"targets) averaged over {len(SEEDS)} runs, seeds {', '.join(map(str, SEEDS))}, each with all five folds "
        "finished; a recipe enters the choice once those runs have finished.")


def baseline_predictions(corpora: Path, ravdess: Path) -> pd.DataFrame:
    "The CREMA-D-only default model (int8) on every target and test-only corpus: `corpus`, `label`, `predicted`."
    roots = {c: corpora/FOLDERS[c] for c in [*TARGETS[1:], "turev"]} | {"ravdess": ravdess}
    manifest = load_corpora(roots)
    return predict_clips(open_model(CREMAD_ONLY), manifest, progress=False).rename(columns=dict(prediction="predicted"))


def declared_runs() -> list[str]:
    """The run folders this file declares: every recipe's seed 0, its RERUNS, the cross-validations of CV_RUNS, and
    the first stages of the two-stage runs among them (FIRST_STAGES)."""
    runs = [*RECIPES.values(), *(f for by_seed in RERUNS.values() for f in by_seed.values()), *CV_RUNS.values()]
    return runs + [FIRST_STAGES[f] for f in runs if f in FIRST_STAGES]


def cross_validations() -> set[str]:
    "The declared runs that are CREMA-D cross-validations (CV_RUNS, and their first stages), not LOCO runs."
    return {*CV_RUNS.values(), *(FIRST_STAGES[f] for f in CV_RUNS.values() if f in FIRST_STAGES)}


def keep_records(runs: Path, records: Path = RECORDS) -> list[str]:
    """Copy every finished fold of the declared runs below `runs` into `records` (each fold's config.json and
    metrics.json and, for a LOCO fold, its predictions on the corpus it left out), so that the tables outlive the
    machine that trained; returns the run folders copied from."""
    kept = set()
    for folder in declared_runs():
        for metrics in sorted((runs/folder).glob("fold_*/metrics.json")):
            fold, dest = metrics.parent, records/folder/metrics.parent.name
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("config.json", "metrics.json"): shutil.copy(fold/name, dest/name)
            if folder not in cross_validations():
                preds = pd.read_csv(fold/"predictions.csv")
                target = preds[preds.corpus == fold.name.removeprefix("fold_")][["corpus", "label", "predicted"]]
                write_atomic(dest/"target_predictions.csv", target.to_csv(index=False))
            kept.add(folder)
    return sorted(kept)


def legacy(run: Path) -> dict | None:
    "The record of a run whose folder was lost before records were kept (its legacy.json), else None."
    return json.loads((run/"legacy.json").read_text()) if (run/"legacy.json").is_file() else None


def finished_folds(run: Path) -> int:
    "How many folds of `run` (a record) have finished."
    return legacy(run)["folds"] if legacy(run) else sum(1 for _ in run.glob("fold_*/metrics.json"))


def run_summary(run: Path) -> pd.DataFrame:
    "`loco_summary` of a record: from its folds, or, for a legacy record, from the summary it kept (same `rule`)."
    if not (record := legacy(run)): return loco_summary(run)
    table = pd.DataFrame(record["summary"]).T
    targets = table[table.index.isin(TARGETS)]
    table.attrs["rule"] = dict(mean_ua=float(targets.ua.mean()), mean_min_recall=float(targets.min_recall.mean()),
                               folds=record["folds"])
    return table


def run_recipe(run: Path) -> tuple[str, dict | None]:
    "The training options and the model overrides a record's first fold recorded (a legacy record: the ones it kept)."
    if record := legacy(run): return record["options"], record.get("model_overrides")
    settings = json.loads(next(run.glob("fold_*/config.json")).read_text())["settings"]
    return recipe_options(recorded_recipe(settings)), settings.get("model_overrides")


def target_predictions(run: Path) -> pd.DataFrame:
    "Each finished fold's predictions on the corpus it left out (the LOCO test), concatenated."
    return pd.concat([pd.read_csv(p) for p in sorted(run.glob("fold_*/target_predictions.csv"))])


def where_sadness_goes(preds: pd.DataFrame) -> pd.DataFrame:
    "Per corpus, the share of its sad clips given each label (the row of sadness in the confusion matrix)."
    sad = preds[preds.label == "sadness"]
    return (pd.crosstab(sad.corpus, sad.predicted, normalize="index").reindex(columns=LABELS, fill_value=0.0)
            .rename(columns=lambda l: f"sad called {l}"))


def run_sadness(run: Path) -> pd.DataFrame:
    "`where_sadness_goes` on a LOCO record's target predictions (a legacy record: the rows it kept)."
    return pd.DataFrame(record["sadness"]).T if (record := legacy(run)) else where_sadness_goes(target_predictions(run))


def adversary_accuracy(run: Path) -> str:
    """How well a corpus adversary still told the training corpora apart at the end of training (on its recent
    training batches), beside the accuracy of the best guess without features: always naming the largest training
    corpus, or, where the draws are corpus-balanced, chance among the training corpora (means over the finished
    folds); empty for a recipe without one."""
    if record := legacy(run): return record["adversary"]
    accuracy, baseline = [], []
    for metrics in run.glob("fold_*/metrics.json"):
        validation = json.loads(metrics.read_text())["validation"]
        if "corpus_accuracy" not in validation: continue
        config = json.loads((metrics.parent/"config.json").read_text())
        sizes = [sum(c.values()) for c in config["train_counts"].values()]  # per corpus (counts per corpus and class)
        balanced = config["settings"].get("balance_corpora")
        accuracy.append(validation["corpus_accuracy"])
        baseline.append(1 / len(sizes) if balanced else max(sizes) / sum(sizes))
    if not accuracy: return ""
    guess = "chance among the corpora" if balanced else "the largest corpus"  # one recipe in every fold
    return f"{sum(accuracy) / len(accuracy):.2f} ({guess}: {sum(baseline) / len(baseline):.2f})"


def seed_runs(records: Path, name: str, folds: int = 1) -> dict:
    "Seed -> record of recipe `name` (seed 0 and its RERUNS), for the runs with at least `folds` finished folds."
    return {seed: records/folder for seed, folder in {0: RECIPES[name], **RERUNS.get(name, {})}.items()
            if finished_folds(records/folder) >= folds}


def seed_figures(records: Path, name: str, seed0: pd.DataFrame) -> pd.DataFrame:
    """The rule's two figures of each run of recipe `name` that has finished all five folds; `seed0` is seed 0's
    `run_summary`, already read."""
    finished = seed_runs(records, name, folds=len(TARGETS))
    return pd.DataFrame([dict(seed=seed, **(seed0 if seed == 0 else run_summary(run)).attrs["rule"])
                         for seed, run in finished.items()], columns=["seed", "mean_ua", "mean_min_recall", "folds"])


def recipe_rows(records: Path = RECORDS) -> tuple[dict, pd.DataFrame]:
    """Each recipe's LOCO summary (seed 0, finished folds) and its rule figures: seed 0's (the first rule's), and
    their means over the seeds whose runs have finished (RULE's, once all of SEEDS have)."""
    summaries, rule_rows = {}, []
    for name, folder in RECIPES.items():
        run = records/folder
        if not finished_folds(run): continue
        table = summaries[name] = run_summary(run)
        options, overrides = run_recipe(run)
        if folder in FIRST_STAGES:  # a second stage: its options, after those of the run it starts from
            options = f"{run_options(records/FIRST_STAGES[folder])}, then --init-from {FIRST_STAGES[folder]} {options}"
        seeds = seed_figures(records, name, table)
        rule_rows.append(dict(recipe=name, options=options, model_overrides=json.dumps(overrides),
                              folds=f"{table.attrs['rule']['folds']} of {len(TARGETS)}",
                              mean_loco_ua=table.attrs['rule']['mean_ua'],
                              mean_lowest_recall=table.attrs['rule']['mean_min_recall'],
                              seeds=f"{len(seeds)} of {len(SEEDS)}", seeds_mean_loco_ua=seeds.mean_ua.mean(),
                              seeds_mean_lowest_recall=seeds.mean_min_recall.mean(),
                              corpus_adversary_accuracy=adversary_accuracy(run)))
    return summaries, pd.DataFrame(rule_rows)


def per_corpus(parts: dict) -> pd.DataFrame:
    "One row per corpus and model (targets first, then the test-only corpora), the model's scores as columns."
    long = pd.concat(parts, names=["model", "corpus"]).reset_index()
    order = {c: i for i, c in enumerate([*TARGETS, *TEST_ONLY])}
    long = long[long.corpus.isin(order)]
    return long.sort_values("corpus", key=lambda c: c.map(order), kind="stable")[["corpus", "model", *long.columns[2:]]]


def seed_spread(records: Path = RECORDS) -> pd.DataFrame:
    """Each recipe of RERUNS: one row per target corpus that every seed's run has finished, with each seed's UA
    and lowest class recall there, then a `mean` row (the rule's two figures over those targets)."""
    parts = []
    for name in RERUNS:
        runs_by_seed = seed_runs(records, name)
        if len(runs_by_seed) < 2: continue
        table = pd.concat({(f"{figure}, seed {seed}"): run_summary(run)[column]
                           for seed, run in runs_by_seed.items()
                           for figure, column in [("UA", "ua"), ("lowest recall", "min_recall")]}, axis=1)
        table = table[table.index.isin(TARGETS)].dropna().sort_index(axis=1)
        table = table.reindex([c for c in TARGETS if c in table.index])
        table.loc["mean"] = table.mean()
        parts.append(table.rename_axis("target").reset_index().assign(recipe=name))
    return pd.concat(parts)[["recipe", *parts[0].columns[:-1]]] if parts else pd.DataFrame()


def plot_recipes(rules: pd.DataFrame, chosen: str | None):
    """Each recipe's two rule figures as a point: seed 0's run (hollow while folds are missing) and, for a recipe run
    with more seeds, their mean (a diamond, hollow while seeds are missing; a star once chosen), with the floor."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5.6))
    ax.axvspan(0, MIN_RECALL_FLOOR, color="0.92", zorder=0)
    ax.axvline(MIN_RECALL_FLOOR, color="0.4", ls="--", lw=1)
    ax.text(MIN_RECALL_FLOOR, 1.01, f" floor {MIN_RECALL_FLOOR}", transform=ax.get_xaxis_transform(), color="0.3")
    for i, r in rules.reset_index(drop=True).iterrows():
        done = r.folds == ALL_FOLDS
        ax.scatter(r.mean_lowest_recall, r.mean_loco_ua, s=70, color=f"C{i}", zorder=3,
                   facecolors=f"C{i}" if done else "none",
                   label=f"{r.recipe}" + ("" if done else f" ({r.folds} folds)"))
        if int(r.seeds.split()[0]) < 2: continue
        all_seeds = r.seeds == f"{len(SEEDS)} of {len(SEEDS)}"
        ax.scatter(r.seeds_mean_lowest_recall, r.seeds_mean_loco_ua, s=110, color=f"C{i}", zorder=3,
                   facecolors=f"C{i}" if all_seeds else "none", marker="*" if r.recipe == chosen else "D",
                   label=f"the same: mean of {r.seeds} seeds")
        ax.annotate("", (r.seeds_mean_lowest_recall, r.seeds_mean_loco_ua), (r.mean_lowest_recall, r.mean_loco_ua),
                    arrowprops=dict(arrowstyle="->", color=f"C{i}", lw=0.8))
    ax.set(xlim=(0, max(0.35, rules[["mean_lowest_recall", "seeds_mean_lowest_recall"]].max().max() + 0.03)),
           xlabel="mean lowest class recall (targets)", ylabel="mean LOCO UA (targets)")
    ax.set_title("LOCO recipes: trained here from random weights", pad=16)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    fig.tight_layout()
    return fig


def choose(rules: pd.DataFrame, seeds: bool = True) -> str | None:
    """The recipe RULE picks (means over SEEDS), or with `seeds=False` the one RULE_V1 picks (seed 0's run); None
    while no recipe has finished its runs or none reaches the floor."""
    ua, recall = ("seeds_mean_loco_ua", "seeds_mean_lowest_recall") if seeds else ("mean_loco_ua", "mean_lowest_recall")
    ready = rules.seeds == f"{len(SEEDS)} of {len(SEEDS)}" if seeds else rules.folds == ALL_FOLDS
    chosen = None
    for _, r in rules[ready & (rules[recall] >= MIN_RECALL_FLOOR)].iterrows():
        if chosen is None or r[ua] > chosen[ua] + TIE: chosen = r
    return None if chosen is None else chosen.recipe


def seeds_to_go(rules: pd.DataFrame, chosen: str | None) -> pd.DataFrame:
    """Each recipe of RERUNS whose runs of SEEDS have not all finished (its row of `recipe_rows`'s rules), with what
    the mean of its missing runs would need for the rule in force to choose it over `chosen`: a mean LOCO UA above
    `needed_mean_loco_ua` (at least it, for a recipe listed before the chosen one; none while nothing is chosen) and
    a mean lowest recall of at least `needed_mean_lowest_recall` (the floor)."""
    order, rows = list(RECIPES), []
    best = rules.set_index("recipe").seeds_mean_loco_ua.get(chosen)
    for r in rules[rules.recipe.isin(RERUNS) & (rules.recipe != chosen)].itertuples():
        done = int(r.seeds.split()[0])
        if (missing := len(SEEDS) - done) == 0: continue
        ua, recall = (done * r.seeds_mean_loco_ua, done * r.seeds_mean_lowest_recall) if done else (0.0, 0.0)
        bar = None if best is None else best + (TIE if order.index(r.recipe) > order.index(chosen) else -TIE)
        rows.append(dict(recipe=r.recipe, seeds=r.seeds, seeds_mean_loco_ua=r.seeds_mean_loco_ua,
                         seeds_mean_lowest_recall=r.seeds_mean_lowest_recall,
                         needed_mean_loco_ua=None if bar is None else (len(SEEDS) * bar - ua) / missing,
                         needed_mean_lowest_recall=(len(SEEDS) * MIN_RECALL_FLOOR - recall) / missing))
    return pd.DataFrame(rows, columns=["recipe", "seeds", "seeds_mean_loco_ua", "seeds_mean_lowest_recall",
                                       "needed_mean_loco_ua", "needed_mean_lowest_recall"])


def write_choice(rules: pd.DataFrame, seeds: pd.DataFrame, unseen: pd.DataFrame, chosen: str | None,
                 cv: pd.DataFrame) -> Path:
    """bench/results/loco_choice.json: the recipe the rule in force chose (None: none), its recorded options, the
    shipping condition on its seeds' mean UA over the four targets other than CREMA-D, against CREMA-D-only
    training's, and DEFAULT_RULE's verdict on its CREMA-D cross-validation (`cv`: `write_cv`'s table); the script
    that builds the model reads it."""
    record = dict(rule=RULE, chosen=chosen)
    if chosen:
        row = rules.set_index("recipe").loc[chosen]
        mine = seeds[(seeds.recipe == chosen) & seeds.target.isin(TARGETS[1:])]
        ua = float(mine.filter(like="UA, seed").mean(axis=1).mean())
        baseline = float(unseen.loc[f"CREMA-D only ({CREMAD_ONLY})", "mean"])
        record |= dict(options=row.options, model_overrides=json.loads(row.model_overrides),
                       seeds_mean_loco_ua=row.seeds_mean_loco_ua, seeds_mean_lowest_recall=row.seeds_mean_lowest_recall,
                       mean_ua_other_targets=ua, cremad_only_mean_ua_other_targets=baseline, ships=ua > baseline)
        mine = cv[(cv.recipe == chosen) & (cv.metric == "ua")]
        folds = int(mine.folds.iloc[0]) if len(mine) else 0
        depth = float(mine["+ ASED, URDU, EMOVO, EmoDB"].iloc[0]) if len(mine) else None
        record |= dict(default_rule=DEFAULT_RULE, cremad_cv_ua=depth, cremad_cv_folds=folds,
                       default=bool(record["ships"] and folds == 5 and depth >= DEPTH_TARGET))
    return write_atomic(RESULTS/"loco_choice.json", json.dumps(record, indent=2) + "\n")


def default_verdict(choice: dict) -> str:
    "DEFAULT_RULE's verdict on the chosen recipe (`write_choice`'s record), in a sentence."
    if not choice["chosen"]: return f"Default model: {CREMAD_ONLY} stays (no recipe chosen)."
    depth = (f"its CREMA-D cross-validation UA is {choice['cremad_cv_ua']:.3f} over {choice['cremad_cv_folds']} of 5 "
             "folds" if choice["cremad_cv_folds"] else "its CREMA-D cross-validation has not run")
    return (f"Default model: **{'the chosen recipe' if choice['default'] else CREMAD_ONLY}**: {depth} (target "
            f">= {DEPTH_TARGET}, all five folds); the shipping condition is {'met' if choice['ships'] else 'not met'}.")


def committed_cv_folds() -> pd.DataFrame:
    """Per-fold test metrics (rows: metrics, columns: `fold_<k>`) of the default model's CREMA-D cross-validation on
    CREMA-D alone, read from the table bench/default_model.py committed (its runs are not kept)."""
    rows = [line for line in (RESULTS/"default_model_cv.md").read_text().splitlines() if line.startswith("|")]
    table = pd.read_csv(io.StringIO("\n".join([rows[0], *rows[2:]])), sep="|").iloc[:, 1:-1]
    table.columns = [c.strip() for c in table.columns]
    table = table.set_index(table.columns[0])
    table.index = table.index.str.strip()
    return table.filter(like="fold_").astype(float).loc[SUMMARY_METRICS]


def run_options(run: Path) -> str | None:
    "The recipe a record's first finished fold recorded, as `distilser` options (training and model), or None."
    if not finished_folds(run): return None
    options, overrides = run_recipe(run)
    return f"{options} {model_options(overrides)}"


CV_COMMAND = "distilser loso --cremad CREMA-D --ased ASED --urdu URDU --emovo EMOVO --emodb EmoDB"


def cv_commands(cv_dir: Path, records: Path = RECORDS) -> list[tuple[Path, str, str]]:
    "The runs of a cross-validation record (its first stage first, if it has one), each with its `--init-from`."
    if cv_dir.name not in FIRST_STAGES: return [(cv_dir, "", ".")]
    first = records/FIRST_STAGES[cv_dir.name]
    return [(first, "", ", then"), (cv_dir, f" --init-from {first.name}", ".")]


def cv_recipe(cv_dir: Path, records: Path = RECORDS) -> str:
    """The recipe a CREMA-D cross-validation record recorded, by name: the default model's (`DEFAULT_RECIPE`), or the
    LOCO recipe whose run recorded the same options; its folds must agree and have trained on the five corpora (a
    legacy record: the name it was checked under when its run was read)."""
    if record := legacy(cv_dir): return record["recipe"]
    configs = [json.loads(c.read_text())["settings"] for c in cv_dir.glob("fold_*/config.json")]
    if not configs: raise SystemExit(f"{cv_dir}: no finished fold")
    options = run_options(cv_dir)
    if any(set(s["corpora"]) != set(TARGETS) or f"{recipe_options(recorded_recipe(s))} "
           f"{model_options(s.get('model_overrides'))}" != options for s in configs):
        raise SystemExit(f"{cv_dir}: its folds differ in recipe, or did not all train on {', '.join(TARGETS)}")
    if options == f"{recipe_options(DEFAULT_RECIPE)} ": return DEFAULT_CV
    named = [name for name, folder in RECIPES.items() if run_options(records/folder) == options]
    if not named: raise SystemExit(f"{cv_dir}: its recipe ({options}) is neither DEFAULT_RECIPE nor one of RECIPES")
    return named[0]


def cv_with_corpora(cv_dir: Path) -> tuple[pd.DataFrame, int]:
    """CREMA-D alone against CREMA-D with the four other corpora in training, on the finished folds of `cv_dir`
    (the same actors): each metric's mean over those folds, the change, and the change fold by fold."""
    record = legacy(cv_dir)
    added = pd.DataFrame(record["fold_metrics"]).loc[SUMMARY_METRICS] if record else fold_metrics(cv_dir).T
    alone = committed_cv_folds()[added.columns]
    change = added - alone
    table = pd.DataFrame({"CREMA-D alone": alone.mean(axis=1), "+ ASED, URDU, EMOVO, EmoDB": added.mean(axis=1),
                          "change": change.mean(axis=1), **{f"change, {f}": change[f] for f in added.columns}})
    table.index.name = "metric"
    return table, len(added.columns)


def write_cv(records: Path = RECORDS) -> pd.DataFrame:
    """bench/results/loco_cv.md and .csv: `cv_with_corpora` on the finished folds of each run of CV_RUNS (each checked
    to have recorded its recipe), labelled; the csv (returned) has one row per (recipe, metric) and a `folds`
    column."""
    lines, tables = [
        "# Does breadth cost depth? CREMA-D's five-fold cross-validation with the other corpora added", "",
        f"**{FROM_SCRATCH_NOTE}**: log-mel CNNs trained by this project from random weights, tested on CREMA-D actors "
        "they never heard. \"CREMA-D alone\": the default model's cross-validation (its recipe, "
        f"`{recipe_options(DEFAULT_RECIPE)}`; `bench/results/default_model_cv.md`, its per-fold test metrics); \"+ "
        "ASED, URDU, EMOVO, EmoDB\": the same folds (the same test, validation and training actors) with every clip of "
        "the four other corpora added to the training side only, trained with the recipe each section names. The "
        f"issue's depth target for a multi-corpus recipe that ships as the default: UA >= {DEPTH_TARGET}."], {}
    for name, folder in CV_RUNS.items():
        cv_dir = records/folder
        if not finished_folds(cv_dir): continue
        if cv_recipe(cv_dir, records) != name: raise SystemExit(f"{cv_dir}: not the recipe CV_RUNS names ({name})")
        table, done = cv_with_corpora(cv_dir)
        tables[name] = table.assign(folds=done)
        lines += ["", f"## {name}", "", f"**{done} of 5 folds finished**" + (
                      "." if done == 5 else "; the means are over those folds only (the run resumes at the next)."), "",
                  table.round(3).to_markdown(), "",
                  *(f"`{CV_COMMAND} {run_options(run).strip()}{init} --out {run.name}`{end}"
                    for run, init, end in cv_commands(cv_dir, records))]
    lines += ["", f"{date.today()}; `nice .venv/bin/python bench/loco.py [--runs RUNS] ...` (the records of CV_RUNS in "
              "bench/results/loco_runs)."]
    cv = pd.concat(tables, names=["recipe"]).reset_index()
    cv.to_csv(RESULTS/"loco_cv.csv", index=False)
    (RESULTS/"loco_cv.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return cv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, help="folder holding `distilser loco` and `loso` runs: the finished folds of "
                    "the declared ones are first copied into bench/results/loco_runs (without it, the tables are "
                    "rebuilt from the records there alone)")
    ap.add_argument("--corpora", type=Path, required=True,
                    help="folder holding CREMA-D, ASED, URDU, EMOVO, EmoDB, TurEV")
    ap.add_argument("--ravdess", type=Path, required=True)
    args = ap.parse_args()
    if args.runs: print("records kept of", ", ".join(keep_records(args.runs)) or "no declared run")
    cv = write_cv()
    start = time.time()
    summaries, rules = recipe_rows()
    base_preds = baseline_predictions(args.corpora, args.ravdess)
    base = corpus_scores(base_preds)
    chosen, chosen_v1 = choose(rules), choose(rules, seeds=False)
    cols = ["ua", "min_recall", *[f"recall_{l}" for l in LABELS], "arousal"]
    parts = {f"CREMA-D only ({CREMAD_ONLY})": base[cols]}
    parts |= {name: t.rename(index=lambda i: i.split(" (")[0])[cols] for name, t in summaries.items()}
    table = per_corpus(parts)
    table.to_csv(RESULTS/"loco.csv", index=False)
    unseen = table[table.corpus.isin(TARGETS[1:])].groupby("model", sort=False).ua.agg(["mean", "count"])
    on_targets = base_preds[base_preds.corpus.isin(TARGETS)]
    sad = per_corpus({f"CREMA-D only ({CREMAD_ONLY})": where_sadness_goes(on_targets)}
                     | {name: run_sadness(RECORDS/RECIPES[name]) for name in summaries})
    sad.to_csv(RESULTS/"loco_sadness.csv", index=False)
    seeds = seed_spread()
    seeds.to_csv(RESULTS/"loco_seeds.csv", index=False)
    to_go = seeds_to_go(rules, chosen)
    to_go.to_csv(RESULTS/"loco_seeds_to_go.csv", index=False)
    if summaries:
        import matplotlib; matplotlib.use("Agg")
        finished = rules[rules.folds == ALL_FOLDS]
        name = chosen or (finished if len(finished) else rules).sort_values("mean_loco_ua").recipe.iloc[-1]
        ax = plot_loco(summaries[name], f"LOCO, {name}: trained here from random weights")
        ax.figure.savefig(RESULTS/"loco.png", dpi=110)
        plot_recipes(rules, chosen).savefig(RESULTS/"loco_recipes.png", dpi=110, bbox_inches="tight")
    lines = [
        "# Leave one corpus out", "",
        f"**{FROM_SCRATCH_NOTE}**: log-mel CNNs trained by this project on the corpora named, from random weights.", "",
        f"First rule, declared before the first run (single runs, seed 0): {RULE_V1}", "",
        "Rule in force, declared before the run of the third seed, once the second seed of the best recipe had shown "
        f"that one run's verdict is the seed's as much as the recipe's: {RULE}", "",
        "## The recipes and the rules' figures", "",
        "`mean_loco_ua` and `mean_lowest_recall`: seed 0's run (the first rule's figures); `seeds`: how many of the "
        f"{len(SEEDS)} seeds' runs have finished all five folds, and `seeds_mean_*` the figures' means over those runs "
        "(the rule in force, once all have).", "",
        rules.round(3).to_markdown(index=False) if len(rules) else "no LOCO run has finished a fold yet", "",
        f"Chosen by the rule in force: **{chosen}**" if chosen else (
            f"Chosen by the rule in force: none: no recipe whose {len(SEEDS)} runs have finished reaches the "
            f"lowest-recall floor ({MIN_RECALL_FLOOR}) on their mean, so nothing replaces the shipped model."),
        f"The first rule (seed 0 alone) chooses: **{chosen_v1 or 'none'}**.", "",
        f"Default-model rule, declared before the square-root recipe's runs: {DEFAULT_RULE}", "",
        default_verdict(json.loads(write_choice(rules, seeds, unseen, chosen, cv).read_text())), "",
        "## Seeds: how far one run lies from the next", "",
        "The same recipe trained again with another `--seed` (weights, augmentation, draws and validation speakers "
        "change; the data and the options do not). Each row: a target corpus that every seed has finished, each "
        "seed's UA and lowest class recall there; the `mean` row gives the rule's two figures over those targets.", "",
        seeds.round(3).to_markdown(index=False) if len(seeds) else "no rerun has finished a fold yet", "",
        "## Recipes whose seeds are still to run: what the missing runs would need", "",
        "Each recipe of the reruns whose runs have not all finished all five folds: the figures of those that have, "
        "and the mean that its missing runs would need for the rule in force to choose it over the chosen recipe "
        "(UA: more than `needed_mean_loco_ua` for a recipe listed after the chosen one, at least it for one listed "
        "before; lowest recall: at least `needed_mean_lowest_recall`, to reach the floor). A need above any run so "
        "far reads as out of reach; the verdict waits for the runs all the same.", "",
        to_go.round(3).to_markdown(index=False) if len(to_go) else "every declared rerun has finished", "",
        "## Per corpus: CREMA-D-only training against leave-one-corpus-out", "",
        "Rows: the five target corpora (each scored by the fold that left it out; CREMA-D-only training has no row "
        "for CREMA-D, whose own cross-validation is in the default model's chapter), then the test-only corpora "
        "(scored by every fold's model: the mean). Columns: UA, the lowest class recall, each class's recall, arousal "
        "accuracy.", "",
        table.round(3).to_markdown(index=False), "",
        "Mean UA over the four targets other than CREMA-D (the shipping condition): "
        + "; ".join(f"{m} {r['mean']:.3f} ({int(r['count'])} corpora)" for m, r in unseen.iterrows()) + ".", "",
        "## Where the sad clips of each target corpus go", "",
        "Each row: the target corpus's sad clips, scored by the fold that left it out (CREMA-D-only training: by the "
        "default model), and the share of them given each label. Sadness is the class that travels worst.", "",
        sad.round(3).to_markdown(index=False), "",
        f"CPU: {cpu_label()}; {date.today()}; `nice .venv/bin/python bench/loco.py [--runs RUNS] --corpora CORPORA "
        f"--ravdess RAVDESS`, {(time.time() - start) / 60:.1f} min (the LOCO trainings themselves are the "
        "`distilser loco` runs above; every run's record is in bench/results/loco_runs).",
    ]
    (RESULTS/"loco.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
