"""bench/whisper_loco.py's declared rules, applied again to its committed table: the same choice, the same figures,
every target scored by the fold that left it out, RAVDESS scored by every fold and never in a figure of the rule."""
import json
import sys

import pandas as pd

from distilser.data import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT/'bench'))
import whisper_loco  # noqa: E402  (bench/ is not a package)

RESULTS = REPO_ROOT/'bench'/'results'
TABLE = pd.read_csv(RESULTS/'whisper_loco.csv', keep_default_na=False)
CHOICE = json.loads((RESULTS/'whisper_choice.json').read_text())


def test_the_rule_gives_the_committed_choice():
    figures = whisper_loco.rule_figures(TABLE)
    assert whisper_loco.choose(figures) == CHOICE['chosen']
    row = figures[(figures.recipe == CHOICE['chosen']) & (figures.scenario == 'clip')].iloc[0]
    assert abs(row.mean_loco_ua - CHOICE['mean_loco_ua']) < 5e-5  # the CSV keeps 4 decimals: each UA within 5e-5
    assert abs(row.mean_lowest_recall - CHOICE['mean_lowest_recall']) < 5e-5
    own = TABLE[(TABLE.recipe == CHOICE['chosen']) & (TABLE.scenario == 'clip') & (TABLE.corpus == TABLE.fold)]
    assert own.groupby('seed').corpus.nunique().eq(5).all() and own.seed.nunique() == 3


def test_every_run_scores_each_target_once_and_ravdess_by_every_fold():
    for _, run in TABLE.groupby(['recipe', 'seed', 'scenario']):
        assert sorted(run.fold.unique()) == sorted(whisper_loco.TARGETS)
        assert (run[run.corpus != 'ravdess'].corpus == run[run.corpus != 'ravdess'].fold).all()
        assert sorted(run[run.corpus == 'ravdess'].fold) == sorted(whisper_loco.TARGETS)


def test_the_cnn_figures_are_the_committed_ones():
    cnn = json.loads((RESULTS/'loco_choice.json').read_text())
    assert CHOICE['cnn_recipe'] == cnn['chosen'] and CHOICE['cnn_mean_loco_ua'] == cnn['seeds_mean_loco_ua']
