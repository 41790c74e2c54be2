"""bench/loco_adapt.py applies its declared rule to the committed table: per family, each seed's mean over its LOCO
targets, then the mean over seeds; adaptation is offered only if every family gains enough and loses no lowest
recall, and only once the two-stage recipe has all its seeds."""
import sys

import pandas as pd

from distilser.data import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT/'bench'))
import loco_adapt  # noqa: E402  (bench/ is not a package)

TABLE = pd.read_csv(REPO_ROOT/'bench'/'results'/'loco_adapt.csv', keep_default_na=False)


def figure(figures, family, mode, column): return figures.set_index(['family', 'mode']).loc[(family, mode), column]


def test_the_figures_are_means_over_seeds_of_means_over_targets():
    figures = loco_adapt.rule_figures(TABLE)
    own = TABLE[(TABLE.family == 'two stages') & (TABLE.target == TABLE.fold) & (TABLE['mode'] == 'adapted')]
    per_seed = own.groupby('seed').ua.mean()
    assert len(per_seed) == 3 and own.groupby('seed').target.nunique().eq(5).all()
    assert abs(figure(figures, 'two stages', 'adapted', 'mean_ua') - per_seed.mean()) < 1e-9  # float64 means: ~1e-16
    alone = TABLE[(TABLE.family == loco_adapt.CREMAD_ONLY) & (TABLE['mode'] == 'as trained')
                  & TABLE.target.isin(loco_adapt.TARGETS)]
    assert sorted(alone.target) == ['ased', 'emodb', 'emovo', 'urdu']  # never its own corpus, never a test-only one
    assert abs(figure(figures, loco_adapt.CREMAD_ONLY, 'as trained', 'mean_lowest_recall')
               - alone.min_recall.mean()) < 1e-9


def test_every_family_must_gain_and_the_two_stage_recipe_needs_every_seed():
    offered, lines = loco_adapt.verdict(loco_adapt.rule_figures(TABLE))
    passes = {line.split(':')[0]: line.endswith(': passes') for line in lines}
    assert offered == all(passes.values()) and set(passes) == {'two stages', loco_adapt.CREMAD_ONLY}
    lifted = TABLE.copy()  # the CREMA-D-only model's adapted rows lifted well past the gain: only then is it offered
    adapted_alone = (lifted.family == loco_adapt.CREMAD_ONLY) & (lifted['mode'] == 'adapted')
    lifted.loc[adapted_alone, ['ua', 'min_recall']] += 0.2
    assert loco_adapt.verdict(loco_adapt.rule_figures(lifted))[0] == passes['two stages']
    short = lifted[~((lifted.family == 'two stages') & (lifted.seed == 2) & (lifted.fold == 'emovo'))]
    offered_short, lines_short = loco_adapt.verdict(loco_adapt.rule_figures(short))  # seed 2 missing a fold
    assert not offered_short
    assert any(line.startswith('two stages') and line.endswith('2 seed(s) over 5 targets: does not pass')
               for line in lines_short)
