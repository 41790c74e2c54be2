"""bench/loco.py keeps each declared run's finished folds as its record and builds its tables from the records; it names
each CREMA-D cross-validation run by the recipe its folds recorded, and refuses what it cannot name."""
import json, sys
from dataclasses import asdict, replace

import pandas as pd
import pytest

from distilser.data import REPO_ROOT
from distilser.default_model import DEFAULT_RECIPE

sys.path.insert(0, str(REPO_ROOT/'bench'))
import loco  # noqa: E402  (bench/ is not a package)

CMN = "pooled + per-clip log-mel mean removal"


def finished_fold(fold_dir, recipe=DEFAULT_RECIPE, overrides=None, corpora=loco.TARGETS):
    "A fold folder as `distilser loso`/`loco` leave it: its config.json (settings) and metrics.json."
    fold_dir.mkdir(parents=True)
    settings = dict(asdict(recipe), corpora=sorted(corpora), model_overrides=overrides)
    (fold_dir/'config.json').write_text(json.dumps(dict(settings=settings)))
    (fold_dir/'metrics.json').write_text(json.dumps(dict(test=dict(ua=0.5))))


@pytest.fixture
def runs(tmp_path):
    "A runs folder with the mean-removal recipe's LOCO run (one finished fold)."
    finished_fold(tmp_path/loco.RECIPES[CMN]/'fold_ased', replace(DEFAULT_RECIPE, epochs=14), dict(utterance_cmn=True))
    return tmp_path


def test_cv_runs_are_named_by_their_recorded_recipe(runs):
    finished_fold(runs/'cv_default'/'fold_1')
    assert loco.cv_recipe(runs/'cv_default', runs) == loco.DEFAULT_CV
    finished_fold(runs/'cv_cmn'/'fold_1', replace(DEFAULT_RECIPE, epochs=14), dict(utterance_cmn=True))
    finished_fold(runs/'cv_cmn'/'fold_2', replace(DEFAULT_RECIPE, epochs=14), dict(utterance_cmn=True))
    assert loco.cv_recipe(runs/'cv_cmn', runs) == CMN


def test_cv_runs_that_cannot_be_named_are_refused(runs):
    finished_fold(runs/'cv_mixed'/'fold_1')
    finished_fold(runs/'cv_mixed'/'fold_2', replace(DEFAULT_RECIPE, epochs=14))
    with pytest.raises(SystemExit, match='differ in recipe'):
        loco.cv_recipe(runs/'cv_mixed', runs)
    finished_fold(runs/'cv_other'/'fold_1', replace(DEFAULT_RECIPE, seed=7))
    with pytest.raises(SystemExit, match='neither DEFAULT_RECIPE nor one of RECIPES'):
        loco.cv_recipe(runs/'cv_other', runs)
    finished_fold(runs/'cv_two'/'fold_1', corpora=['cremad', 'emodb'])
    with pytest.raises(SystemExit, match='did not all train on'):
        loco.cv_recipe(runs/'cv_two', runs)
    with pytest.raises(SystemExit, match='no finished fold'):
        loco.cv_recipe(runs/'empty', runs)


def test_the_committed_choice_applies_the_default_rule():
    "loco_choice.json's default verdict follows from its own figures and the declared target."
    choice = json.loads((loco.RESULTS/'loco_choice.json').read_text())
    assert choice['default_rule'] == loco.DEFAULT_RULE
    assert choice['default'] == (choice['ships'] and choice['cremad_cv_folds'] == 5
                                 and choice['cremad_cv_ua'] >= loco.DEPTH_TARGET)


def test_the_depth_screen_says_whose_loco_figures_it_shows():
    "A recipe's seeds' means once a run has finished, else seed 0's folds so far, named either way."
    import loco_depth
    rules = dict(seeds_mean_loco_ua=0.53, seeds_mean_lowest_recall=0.26, mean_loco_ua=0.52, mean_lowest_recall=0.24)
    finished = loco_depth.loco_figures(pd.Series(dict(rules, seeds='3 of 3', folds='5 of 5')))
    assert finished == dict(loco_figures='mean of 3 runs, all folds', mean_loco_ua=0.53, mean_lowest_recall=0.26)
    partial = loco_depth.loco_figures(pd.Series(dict(rules, seeds='0 of 3', folds='3 of 5')))
    assert partial == dict(loco_figures='seed 0, 3 of 5 folds', mean_loco_ua=0.52, mean_lowest_recall=0.24)


def test_finished_folds_of_declared_runs_are_kept(runs, tmp_path_factory):
    "keep_records copies a declared run's finished folds (the left-out corpus's predictions only), nothing else."
    fold = runs/loco.RECIPES[CMN]/'fold_ased'
    pd.DataFrame(dict(corpus=['ased', 'ravdess'], label=['sadness', 'anger'], predicted=['happiness', 'anger'],
                      p_anger=[0.1, 0.9])).to_csv(fold/'predictions.csv', index=False)
    (runs/loco.RECIPES[CMN]/'fold_urdu').mkdir()  # still training: no metrics.json
    finished_fold(runs/'my_scratch_run'/'fold_ased')  # not declared in bench/loco.py
    records = tmp_path_factory.mktemp('records')
    assert loco.keep_records(runs, records) == [loco.RECIPES[CMN]]
    kept = records/loco.RECIPES[CMN]
    assert sorted(p.name for p in kept.iterdir()) == ['fold_ased']
    assert sorted(p.name for p in (kept/'fold_ased').iterdir()) == ['config.json', 'metrics.json',
                                                                    'target_predictions.csv']
    assert pd.read_csv(kept/'fold_ased'/'target_predictions.csv').to_dict('list') == dict(
        corpus=['ased'], label=['sadness'], predicted=['happiness'])
    assert loco.finished_folds(kept) == 1


def test_first_stages_of_two_stage_runs_are_kept_as_their_kind(tmp_path, tmp_path_factory):
    "A declared two-stage run's first stage is kept too: a LOCO one with its predictions, a cross-validation without."
    loco_first = next(first for run, first in loco.FIRST_STAGES.items() if run not in loco.cross_validations())
    cv_first = next(first for run, first in loco.FIRST_STAGES.items() if run in loco.cross_validations())
    finished_fold(tmp_path/loco_first/'fold_ased')
    pd.DataFrame(dict(corpus=['ased'], label=['anger'], predicted=['anger'])).to_csv(
        tmp_path/loco_first/'fold_ased'/'predictions.csv', index=False)
    finished_fold(tmp_path/cv_first/'fold_1')  # a cross-validation fold: no predictions to keep
    records = tmp_path_factory.mktemp('records')
    assert loco.keep_records(tmp_path, records) == sorted([loco_first, cv_first])
    assert (records/loco_first/'fold_ased'/'target_predictions.csv').is_file()
    assert sorted(p.name for p in (records/cv_first/'fold_1').iterdir()) == ['config.json', 'metrics.json']


def test_the_committed_records_rebuild_the_committed_tables():
    "The rule, read from bench/results/loco_runs alone, picks what loco_choice.json says, with the same figures."
    choice = json.loads((loco.RESULTS/'loco_choice.json').read_text())
    rules = loco.recipe_rows()[1]
    assert loco.choose(rules) == choice['chosen']
    row = rules.set_index('recipe').loc[choice['chosen']]
    # float64 means of the same records, written to JSON in full: pytest's default rel 1e-6 is far above ~1e-16
    assert row.seeds_mean_loco_ua == pytest.approx(choice['seeds_mean_loco_ua'])
    assert row.seeds_mean_lowest_recall == pytest.approx(choice['seeds_mean_lowest_recall'])
    cv = pd.read_csv(loco.RESULTS/'loco_cv.csv').set_index(['recipe', 'metric'])
    for name, folder in loco.CV_RUNS.items():
        if not loco.finished_folds(loco.RECORDS/folder): continue
        assert loco.cv_recipe(loco.RECORDS/folder) == name
        table, folds = loco.cv_with_corpora(loco.RECORDS/folder)
        assert table.loc['ua', '+ ASED, URDU, EMOVO, EmoDB'] == pytest.approx(  # float64, the CSV in full
            cv.loc[(name, 'ua'), '+ ASED, URDU, EMOVO, EmoDB'])
        assert folds == cv.loc[(name, 'ua'), 'folds']


def test_what_missing_seeds_need_is_what_the_rule_would_take():
    "Missing runs that score a hair over each need get their recipe chosen; a hair under either need, they do not."
    rules = loco.recipe_rows()[1]
    chosen = loco.choose(rules)
    others = rules.recipe.isin(loco.RERUNS) & (rules.recipe != chosen)
    rules.loc[others, "seeds"] = f"1 of {len(loco.SEEDS)}"  # as if only seed 0 had run: its figures are the means
    rules.loc[others, "seeds_mean_loco_ua"] = rules.loc[others, "mean_loco_ua"]
    rules.loc[others, "seeds_mean_lowest_recall"] = rules.loc[others, "mean_lowest_recall"]
    to_go = loco.seeds_to_go(rules, chosen)
    assert sorted(to_go.recipe) == sorted(rules[others].recipe)
    n = len(loco.SEEDS)
    for r in to_go.itertuples():
        def with_missing(ua, recall):  # the rules once the missing runs have scored `ua` and `recall` on average
            mean = lambda have, new: (have + (n - 1) * new) / n
            row = dict(seeds=f"{n} of {n}", seeds_mean_loco_ua=mean(r.seeds_mean_loco_ua, ua),
                       seeds_mean_lowest_recall=mean(r.seeds_mean_lowest_recall, recall))
            changed = rules.copy()
            changed.loc[changed.recipe == r.recipe, list(row)] = list(row.values())
            return loco.choose(changed)
        ua, recall = r.needed_mean_loco_ua, r.needed_mean_lowest_recall
        assert with_missing(ua + 1e-6, recall + 1e-6) == r.recipe
        assert with_missing(ua - 1e-3, recall + 1e-6) == chosen
        assert with_missing(ua + 1e-6, recall - 1e-3) == chosen
