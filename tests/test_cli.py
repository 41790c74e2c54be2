"""The `distilser` command as a user runs it: `--help` without importing any chapter, and a terminal that holds only
the command's own lines (other libraries' warnings only with `--verbose`)."""
import contextlib, io, subprocess, sys

import pytest

from conftest import run_cli
from distilser.cli import COMMANDS, main, summaries


def test_help_lists_every_subcommand_without_importing_them():
    done = run_cli('--help')
    assert done.returncode == 0 and done.stderr == ''
    listed = summaries()
    for name in COMMANDS:
        assert f'    {name}' in done.stdout and listed[name].split()[0] in done.stdout
    code = ('import sys; from distilser.cli import main\ntry: main(["--help"])\nexcept SystemExit: pass\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "pandas", "torch", "transformers", '
            '"onnxruntime") or m.startswith("distilser.")))')
    imported = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert imported.stdout.splitlines()[-1] == "['distilser.cli']"


def test_a_mistyped_subcommand_is_one_usage_error():
    done = run_cli('analyse', 'note.wav')
    assert done.returncode == 2 and done.stdout == ''
    assert "invalid choice: 'analyse'" in done.stderr and 'analyze' in done.stderr


def test_no_augment_says_what_it_does():
    "HfArgumentParser gives `--no-augment` the help of `augment`: it must read right under both options."
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit): main(['train', '--help'])
    no_augment = out.getvalue().split('--no_augment, --no-augment')[1].split('--snr_noise')[0]
    assert ' '.join(no_augment.split()) == ('augmentation of the training clips (gain, noise, pitch, polarity): on, or '
                                            'off with --no-augment')


def test_export_prints_only_its_own_lines(tiny, tmp_path):
    "The offline tiny model: its random weights are one line of distilser's, and nothing from torch or torchao."
    args = ['export', tiny['checkpoint'], '--out', tmp_path / 'export', '--calibration-clips', 4, '--guard-clips', 8,
            '--floor', 0, '--training-data', 'nothing: random weights']
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ['distilser: offline:tiny: random weights (offline configuration), not a '
                                        'pretrained model; what it predicts is not a result of the method']
    assert not any(word in done.stderr for word in ('_pytree', 'register_constant', 'Warning:', 'W1', 'W0'))
    assert done.stdout.startswith(f"{tmp_path / 'export' / 'model.onnx'}: ")


def test_analyze_prints_only_its_own_lines(subset_root, tmp_path):
    clips = sorted(subset_root.rglob('*.flac'))[:2]
    done = run_cli('analyze', *clips)
    assert done.returncode == 0 and done.stderr == ''
    done = run_cli('analyze', *clips, '--out', tmp_path / 'r.csv', '-v')  # nothing more to say, even when asked
    assert done.returncode == 0 and done.stderr == ''


def test_analyze_never_loads_pandas(subset_root):
    "pandas costs a third of a second to import, more than analysing a 5-minute note; a file's analysis needs no table."
    clip = sorted(subset_root.rglob('*.flac'))[0]
    code = (f'import sys; from distilser.cli import main\nmain(["analyze", {str(clip)!r}])\n'
            'print("pandas loaded:", "pandas.core.frame" in sys.modules)')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert 'anger' in done.stdout and done.stdout.splitlines()[-1] == 'pandas loaded: False'
