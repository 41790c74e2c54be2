#!/usr/bin/env python
"""Execute one notebook and process it into a documentation page, as `nbdev_test` + `nbdev_docs` would.

Used by scripts/build_docs.py, which runs it once per notebook in a fresh process:
`python scripts/docs_exec.py nbs/00_data.ipynb out.json` writes the page data (processed notebook, its outputs
showing repository-relative paths, title, description, output file name, the traceback if a cell failed, seconds)
as JSON; with `--no-exec` after them it runs no cell, for the pages `build_docs.py --only` does not execute. Light
imports on purpose.
"""
from __future__ import annotations

import json, os, re, sys, tempfile, time
from pathlib import Path

from execnb.nbio import mk_cell, nb2str, read_nb
from execnb.shell import CaptureShell
from nbdev.config import get_config
from nbdev.process import NBProcessor, Processor
from nbdev.processors import FilterDefaults, add_show_docs, exec_show_docs

from nbdev_private import page_name, runs_for_docs, title_fields


class exec_all(Processor):
    """Run every code cell as `nbdev_test` does, in order, storing the outputs (replaces nbdev's `exec_show_docs`);
    with `execute` False, none (the page shows the notebook's source: no outputs, no API documentation)"""
    execute = True

    def begin(self):
        self.k = CaptureShell(self.nb.path_)
        self.k.run_cell('from nbdev.showdoc import show_doc')
        self.skip_flags = set(get_config().get('tst_flags', '').split())
        self.skip_exec = str(getattr(self.nb, 'frontmatter_', {}).get('skip_exec', False)).lower() == 'true'
        self.nb.exec_error_ = None

    def _wanted(self, cell):
        if cell.cell_type != 'code' or not cell.source.strip() or 'nbdev_export' + '(' in cell.source: return False
        if cell.directives_.get('eval:', [''])[0].lower() == 'false': return False
        if self.skip_flags & cell.directives_.keys(): return False  # the full-protocol cells (`#| notest`)
        if not self.execute: return False
        return not self.skip_exec or runs_for_docs(cell)  # `skip_exec: true` notebooks: only what show_doc needs

    def __call__(self, cell):
        if self.nb.exec_error_ or not self._wanted(cell): return
        self.k.cell(cell)
        if self.k.exc: self.nb.exec_error_ = self.k.prettytb(fname=self.nb.path_)


class keep_intro(Processor):
    """Split the title cell so the text after `# title` and `> description` stays (nbdev drops the whole title cell);
    a description continued on further `>` lines is joined into one (nbdev keeps only its first line)"""
    def begin(self):
        cell = next((c for c in self.nb.cells if c.cell_type == 'markdown' and 'title' in title_fields(c.source)), None)
        if cell is None: return
        lines = cell.source.splitlines()
        title = next(i for i, l in enumerate(lines) if re.match(r'^#\s+\S', l))
        desc = next((i for i, l in enumerate(lines) if i > title and re.match(r'^>\s+\S', l)), None)
        head = [title]
        if desc is not None:
            end = next((i for i in range(desc, len(lines)) if not lines[i].startswith('>')), len(lines))
            head += range(desc, end)
        rest = '\n'.join(l for i, l in enumerate(lines) if i not in head).strip()
        description = ' '.join(lines[i].lstrip('> ').strip() for i in head[1:])
        cell.set_source(lines[title] + (f'\n\n> {description}' if description else ''))
        if rest: self.nb.cells.insert(self.nb.cells.index(cell) + 1, mk_cell(rest, 'markdown'))


def doc_procs():
    "nbdev's documentation processors (what `nbdev_docs` runs), executing every cell instead of only show_doc's"
    procs = [p for p in FilterDefaults().procs() if p is not exec_show_docs]
    at = procs.index(add_show_docs) + 1  # run the cells as written (as nbdev_test does), before any display rewrite
    return [keep_intro] + procs[:at] + [exec_all] + procs[at:]


_TMP_FOLDER = re.compile(re.escape(tempfile.gettempdir()) + r'/tmp\w{8}\b')  # a folder made by tempfile.mkdtemp


def relative_paths(text: str, root: Path) -> str:
    """`text` with paths under the repository `root` relative to it (`/home/me/distilser/data/x` -> `data/x`) and the
    scratch folders notebooks make shown as `TMPDIR`: a page reads the same whichever machine and folder built it"""
    text = text.replace(f'{root}{os.sep}', '')
    text = re.sub(re.escape(str(root)) + r'(?![\w-]|\.\w)', '.', text)  # the root itself, not a longer name
    return _TMP_FOLDER.sub('TMPDIR', text)


def relative_outputs(nb, root: Path):
    "Every text output of `nb` (streams, text/* results, tracebacks) through `relative_paths`; figures stay as they are"
    def fix(v): return [relative_paths(s, root) for s in v] if isinstance(v, list) else relative_paths(v, root)
    for o in (o for c in nb.cells for o in c.get('outputs', [])):
        for k in ('text', 'traceback'):
            if k in o: o[k] = fix(o[k])
        for mime, v in o.get('data', {}).items():
            if mime.startswith('text/'): o['data'][mime] = fix(v)


def process_notebook(path: Path, execute: bool = True) -> dict:
    "Execute (unless `execute` is False) and process the notebook at `path` into its page data"
    start = time.time()
    exec_all.execute = execute
    os.environ['IN_TEST'] = '1'  # as nbdev_test: notebooks may shorten work under test
    os.chdir(path.parent)
    nb = read_nb(path)
    NBProcessor(nb=nb, procs=doc_procs()).process()
    fm = dict(getattr(nb, 'frontmatter_', {}))
    if nb.cells and nb.cells[0].cell_type == 'raw' and nb.cells[0].source.startswith('---'):
        nb.cells.pop(0)  # the YAML frontmatter FrontmatterProc inserts for Quarto; we use `fm` directly
    relative_outputs(nb, get_config().config_path)
    return dict(src=path.name, href=fm.get('output-file', page_name(path)), title=fm.get('title', path.stem),
                description=fm.get('description', ''), nb=nb2str(nb), error=nb.exec_error_,
                seconds=time.time() - start)


if __name__ == '__main__':
    src, dest = map(Path, sys.argv[1:3])  # a third argument, `--no-exec`: render without running the notebook
    dest.write_text(json.dumps(process_notebook(src.resolve(), execute='--no-exec' not in sys.argv[3:])))
