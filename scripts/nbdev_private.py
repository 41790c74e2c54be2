"""The one place where the docs build (scripts/build_docs.py, scripts/docs_exec.py, tests/test_docs.py) uses nbdev's
private functions. nbdev 2 has no public API for these four things, so they are named here, and the build runs only
with the nbdev that settings.ini pins (`nbdev==...` in dev_requirements), the version whose source they were read from.
"""
import re

import nbdev
from nbdev.config import get_config


def pinned_nbdev() -> str:
    "The nbdev version settings.ini's dev_requirements pins"
    m = re.search(r'(?:^|\s)nbdev==(\S+)', get_config().get('dev_requirements', ''))
    assert m, 'settings.ini: dev_requirements must pin nbdev exactly (nbdev==X.Y.Z): the docs build uses its internals'
    return m[1]


# checked before the private names are imported, so another nbdev fails here with this message, not on a missing name
if nbdev.__version__ != pinned_nbdev():
    raise ImportError(f'the docs build needs nbdev {pinned_nbdev()} (settings.ini pins it; its private functions '
                      f'are used in scripts/nbdev_private.py), found {nbdev.__version__}: run `make setup`')

from nbdev.doclinks import _nbpath2html  # noqa: E402
from nbdev.frontmatter import _md2dict  # noqa: E402
from nbdev.processors import _do_eval  # noqa: E402
from nbdev.quarto import nbdev_sidebar, refresh_quarto_yml  # noqa: E402


def page_name(nb_path) -> str:
    "The file name of a notebook's page, as nbdev links to it: `nbs/00_data.ipynb` -> `data.html`"
    return _nbpath2html(nb_path).name


def title_fields(markdown: str) -> dict:
    "The frontmatter nbdev reads from a markdown cell: `title` (`# ...`), `description` (`> ...`), `- key: value`"
    return _md2dict(markdown)


def runs_for_docs(cell) -> bool:
    "Whether nbdev runs `cell` to document the notebook when it is not executed (exports, imports, `show_doc`)"
    return bool(_do_eval(cell))


def refresh_quarto_files():
    "Regenerate nbs/nbdev.yml (from settings.ini) and nbs/sidebar.yml (notebook order), as `nbdev_docs` does first"
    refresh_quarto_yml()  # also writes nbdev's default nbs/_quarto.yml where that file (our link) is missing
    nbdev_sidebar.__wrapped__()  # the function under nbdev's command-line wrapper; respects custom_sidebar
