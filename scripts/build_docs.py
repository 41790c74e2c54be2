#!/usr/bin/env python
"""Build the documentation site into `_docs/`, and README.md from `nbs/index.ipynb`, without Quarto.

nbdev 2 renders its site with Quarto (`nbdev_docs`); Quarto is not a pip or Debian package, so it is not on every
machine. This script makes the same pages from the same sources with what `make setup` installs. Both read one site
configuration: the top-level _quarto.yml, with the metadata files it names (nbs/nbdev.yml from settings.ini,
nbs/sidebar.yml in notebook order); nbs/_quarto.yml is a link to it, the one place nbdev 2 looks (see the index's
"This site"). nbdev's private functions are used only through scripts/nbdev_private.py, which pins nbdev's version.

1. every notebook is executed, in its own process (scripts/docs_exec.py), as `nbdev_test` executes it (execnb's
   CaptureShell, run from nbs/ with IN_TEST=1, cells flagged with settings.ini's `tst_flags` skipped), so the build
   is also a test run: a failing cell fails the build and its traceback is printed; outputs show paths relative to
   the repository;
2. nbdev's own processors, the ones `nbdev_docs` runs, turn each notebook into a page: frontmatter from the
   title cell, a `show_doc` cell after every exported function or class (run in the same shell, so
   signatures and docstrings come from the code that just ran), hidden and export cells removed, backticked
   names linked to their documentation;
3. nbconvert's HTMLExporter renders each page into `_docs/<name>.html` (Quarto's output-dir) with the site's title,
   description, repository link, styles.css and sidebar from the site configuration, figures embedded, formulas as
   MathML (latex2mathml; no script from a CDN);
4. the web page's files (its scripts, ONNX Runtime Web from node_modules, the shipped models, silero's VAD) go to
   `_docs/web/` (`distilser.web.write_web_assets`, which tests/test_web.py uses too): the chapter `web.html` loads
   them from the site itself.

Usage: `python scripts/build_docs.py [--n_workers 2] [--timeout 600] [--no-readme] [--only NB.ipynb ...]`
(`make docs` runs it). `--only index.ipynb` rewrites README.md and the home page, executing only that notebook: the
other pages show their notebook's source without running any cell (no outputs, no API documentation), and the site
gets no `.built` stamp, so tests/test_docs.py still builds the whole site before it checks it.
"""
from __future__ import annotations

import argparse, html, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat, nbformat.v4, yaml
from fastcore.ansi import strip_ansi
from jinja2 import DictLoader, pass_context
from latex2mathml.converter import convert as latex2mathml
from nbconvert import HTMLExporter, MarkdownExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbdev.config import get_config

from distilser.core import DistilserError
from distilser.web import write_web_assets
from docs_exec import relative_paths
from nbdev_private import page_name, refresh_quarto_files

STAMP = '.built'  # written last, so that its presence means the whole site built and every notebook ran


# ---------------------------------------------------------------- 1+2: execute and process each notebook
def run_isolated(path: Path, cache: Path, timeout: float, execute: bool = True) -> dict:
    """docs_exec.py's `process_notebook(path, execute)` in a fresh process: no notebook sees another's imports or
    global state"""
    out = cache / (path.stem + '.page.json')
    out.unlink(missing_ok=True)
    def failed(why):  # the process died, hung or was killed: the page shows why
        return dict(src=path.name, href=page_name(path), title=path.stem, description='', nb=None,
                    error=f'{path}: {why}', seconds=0.0)
    # faulthandler: a crash in compiled code (exit -11) still prints the Python stack it happened in
    command = [sys.executable, '-X', 'faulthandler', str(Path(__file__).with_name('docs_exec.py')), str(path), str(out),
               *([] if execute else ['--no-exec'])]
    try: r = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return failed(f'still running after {timeout:.0f} s, stopped')
    if r.returncode or not out.exists():
        return failed(f'the build process exited with {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-3000:]}')
    return json.loads(out.read_text())


# ---------------------------------------------------------------- 3: render
_re_opt = re.compile(r'^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')


class QuartoCellOptions(Preprocessor):
    "Apply the Quarto cell options nbdev leaves in code cells (`#| echo: false`, ...) and remove their lines"
    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if self._apply(c)]
        return nb, resources

    def _apply(self, cell):
        if cell.cell_type != 'code': return True
        lines = cell.source.splitlines()
        n = next((i for i, l in enumerate(lines) if not _re_opt.match(l)), len(lines))
        opts = {m[1]: m[2].strip('"\'').lower() for m in map(_re_opt.match, lines[:n])}
        cell.source = '\n'.join(lines[n:])
        if opts.get('include') == 'false': return False
        if opts.get('echo') == 'false' or not cell.source.strip():
            cell.metadata.setdefault('transient', {})['remove_source'] = True
        if opts.get('output') == 'false': cell.outputs = []
        return bool(cell.source.strip() or cell.outputs)


def pandoc_id(text: str) -> str:
    "The id pandoc (so Quarto) gives a heading, which nbdev's doc links point to: `## Load Audio` -> `load-audio`"
    s = re.sub(r'<[^>]+>', '', html.unescape(text)).lower()
    s = re.sub(r'\s+', '-', re.sub(r'[^\w\s.-]', '', s).strip())
    return re.sub(r'^[^a-z]+', '', s) or 'section'


class MathMLRenderer(IPythonRenderer):
    "nbconvert's markdown renderer, with $...$ and $$...$$ turned into MathML at build time and Quarto's heading ids"
    def heading(self, text, level, **attrs):
        i = pandoc_id(text)
        return f'<h{level} id="{i}">{text}<a class="anchor-link" href="#{i}">&#182;</a></h{level}>\n'
    def _html_embed_images(self, html):  # only <img> needs embedding; parsing a lone `<a ...>` token would close it
        return super()._html_embed_images(html) if '<img' in html else html
    def block_math(self, body): return latex2mathml(body, display='block')
    def inline_math(self, body): return latex2mathml(body)


_re_attr_link = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}')


def attr_links(source: str) -> str:
    "Pandoc's `[text](url){key=\"value\"}` (nbdev's show_doc writes its source links so) as an HTML link"
    def link(m):
        attrs = ''.join(f' {k}="{html.escape(v)}"' for k, v in re.findall(r'([\w-]+)="([^"]*)"', m[3]))
        return f'<a href="{html.escape(m[2])}"{attrs}>{m[1]}</a>'
    return _re_attr_link.sub(link, source)


class SiteExporter(HTMLExporter):
    "HTMLExporter whose markdown filter writes MathML instead of leaving TeX for MathJax, and reads pandoc links"
    @pass_context
    def markdown2html(self, context, source):
        source = attr_links(source)
        cell = context.get('cell', {})
        renderer = MathMLRenderer(escape=False, attachments=cell.get('attachments', {}), embed_images=self.embed_images,
                                  path=context.get('resources', {}).get('metadata', {}).get('path', ''),
                                  anchor_link_text=self.anchor_link_text, **self.lexer_options)
        return MarkdownWithMath(renderer=renderer).render(source)


TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">{{ resources.site.css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}
<body class="jp-Notebook ds-body" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<nav class="ds-sidebar" aria-label="Chapters">
<a class="ds-site" href="index.html">{{ resources.site.title }}</a>
<p class="ds-tagline">{{ resources.site.description }}</p>
<ol>
{%- for p in resources.site.pages %}
<li{% if p.href == resources.page.href %} class="ds-current" aria-current="page"{% endif %}>
<a href="{{ p.href }}">{{ p.title | replace('`', '') }}</a></li>
{%- endfor %}
</ol>
<p class="ds-repo"><a href="{{ resources.site.repo_url }}">source on GitHub</a></p>
</nav>
<main class="ds-main">
<header class="ds-header">
<h1 class="ds-title">{{ resources.page.title_html }}</h1>
{%- if resources.page.description %}<p class="ds-description">{{ resources.page.description }}</p>{% endif %}
</header>
{%- if resources.page.error %}
<div class="ds-error" role="alert"><strong>This chapter did not run to the end; the failing cell:</strong>
<pre>{{ resources.page.error | e }}</pre></div>
{%- endif %}
{%- endblock body_header -%}
{%- block body_footer -%}
<footer class="ds-pager">
{%- if resources.page.prev %}<a class="ds-prev" href="{{ resources.page.prev.href }}">
&larr; {{ resources.page.prev.title | replace('`', '') }}</a>{% endif %}
{%- if resources.page.next %}<a class="ds-next" href="{{ resources.page.next.href }}">
{{ resources.page.next.title | replace('`', '') }} &rarr;</a>{% endif %}
</footer>
</main>
</body>
{%- endblock body_footer -%}
"""

CSS = """
body.ds-body { margin: 0; padding: 0 0 0 17rem; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }
.ds-sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 15.5rem; overflow-y: auto; padding: 1.2rem 0.9rem;
  background: #f6f8fa; border-right: 1px solid #d0d7de; font-size: 0.92rem; }
.ds-site { font-size: 1.35rem; font-weight: 700; color: #1f2328; text-decoration: none; }
.ds-tagline { color: #57606a; font-size: 0.82rem; margin: 0.3rem 0 1rem; }
.ds-sidebar ol { list-style: none; padding: 0; margin: 0; }
.ds-sidebar li a { display: block; padding: 0.28rem 0.5rem; border-radius: 6px; color: #0969da; text-decoration: none; }
.ds-sidebar li a:hover { background: #eaeef2; }
.ds-sidebar li.ds-current a { background: #0969da; color: #fff; }
.ds-repo { margin-top: 1.2rem; font-size: 0.82rem; }
.ds-main { max-width: 62rem; padding: 1rem 2rem 3rem; }
.ds-header { border-bottom: 1px solid #d0d7de; margin-bottom: 1rem; }
.ds-title { font-size: 2.1rem; margin: 0.6rem 0 0.3rem; }
.ds-description { color: #57606a; font-size: 1.1rem; margin: 0 0 0.8rem; }
.ds-pager { display: flex; justify-content: space-between; border-top: 1px solid #d0d7de; margin-top: 2rem;
  padding-top: 1rem; }
.ds-next { margin-left: auto; }
.jp-RenderedMarkdown table { border-collapse: collapse; margin: 0.6rem 0; }
.jp-RenderedMarkdown th, .jp-RenderedMarkdown td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; }
body.ds-body .jp-InputArea-editor, body.ds-body .jp-InputArea { overflow-x: auto; }
.ds-error { border: 1px solid #cf222e; background: #ffebe9; padding: 0.6rem 1rem; border-radius: 6px; }
.ds-error pre { white-space: pre-wrap; font-size: 0.8rem; }
.jp-OutputArea-output.jp-RenderedMarkdown { padding-left: var(--jp-code-padding, 5px); }
math[display=block] { margin: 0.6rem 0; font-size: 1.15em; }
@media (max-width: 800px) { body.ds-body { padding-left: 0; } .ds-sidebar { position: static; width: auto; } }
"""


def merge(into: dict, other: dict) -> dict:
    "`other` merged into `into` as Quarto merges metadata files: mappings key by key, anything else replaced"
    for k, v in other.items():
        into[k] = merge(into[k], v) if isinstance(v, dict) and isinstance(into.get(k), dict) else v
    return into


def site_config(root: Path, nbs: Path) -> dict:
    """The site configuration Quarto reads: the top-level _quarto.yml, merged with the metadata files it names (paths
    relative to nbs/, the folder nbdev copies to _proc/ for Quarto), regenerated first as `nbdev_docs` does"""
    top, link = root / '_quarto.yml', nbs / '_quarto.yml'
    # checked first: where the link is missing nbdev writes its own default nbs/_quarto.yml, a second configuration
    if not (top.is_file() and not top.is_symlink() and link.is_symlink() and link.resolve() == top.resolve()):
        sys.exit(f'{link} must be a link to {top}, the site configuration (nbdev 2 reads only nbs/_quarto.yml): '
                 'ln -sf ../_quarto.yml nbs/_quarto.yml')
    refresh_quarto_files()
    config = yaml.safe_load(top.read_text())
    for name in config.get('metadata-files', []): merge(config, yaml.safe_load((nbs / name).read_text()))
    return config


def sidebar_notebooks(config: dict) -> list[str]:
    "Notebook file names in the order of the site's sidebar"
    def flat(items):
        for o in items:
            if isinstance(o, str): yield o
            else:
                if 'href' in o: yield o['href']
                yield from flat(o.get('contents', []))
    return [o for o in flat(config['website']['sidebar']['contents']) if o.endswith('.ipynb')]


def site_css(config: dict, nbs: Path) -> str:
    "This builder's page layout, then the site's own style sheets (`format: html: css:`), as Quarto adds them"
    css = config.get('format', {}).get('html', {}).get('css', [])
    return CSS + ''.join((nbs / name).read_text() for name in ([css] if isinstance(css, str) else css))


def exporter(cls):
    ex = cls(template_name='lab', extra_loaders=[DictLoader({'distilser.html.j2': TEMPLATE})],
             template_file='distilser.html.j2', embed_images=True,
             exclude_input_prompt=True, exclude_output_prompt=True) if cls is SiteExporter else cls()
    ex.register_preprocessor(QuartoCellOptions(), enabled=True)
    return ex


def title_html(title: str) -> str:
    "A title's markdown (code spans) as HTML, for the page heading"
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(title))


def plain(title: str) -> str:
    "A title without its code marks, for <title> and the sidebar (as Quarto shows it)"
    return title.replace('`', '')


def render_page(page, pages, site, nbs: Path) -> str:
    "HTML of one processed page, with the sidebar and links to the previous and next page"
    i = pages.index(page)
    nav = dict(href=page['href'], title=plain(page['title']), title_html=title_html(page['title']),
               description=page['description'], error=relative_paths(strip_ansi(page['error'] or ''), site['root']),
               prev=pages[i - 1] if i else None, next=pages[i + 1] if i + 1 < len(pages) else None)
    # a notebook whose process died has no cells, only the error the template shows
    nb = nbformat.reads(page['nb'], as_version=4) if page['nb'] else nbformat.v4.new_notebook()
    nb.metadata['title'] = nav['title']
    body, _ = exporter(SiteExporter).from_notebook_node(
        nb, resources=dict(metadata=dict(name=nav['title'], path=str(nbs)), site=site, page=nav))
    # nbdev links backticked names to the hosted site; inside the site they become relative links
    return body.replace(f'href="{site["url"]}/', 'href="')


def write_readme(page, root: Path):
    "README.md (+ index_files/ for its figures) from the processed index, as `nbdev_readme` makes it with Quarto"
    nb = nbformat.reads(page['nb'], as_version=4)
    body, res = exporter(MarkdownExporter).from_notebook_node(nb, resources=dict(output_files_dir='index_files'))
    shutil.rmtree(root / 'index_files', ignore_errors=True)
    for name, data in res.get('outputs', {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    head = f"# {page['title']}\n\n" + (f"> {page['description']}\n\n" if page['description'] else '')
    (root / 'README.md').write_text(head + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n')


def build(n_workers: int = 2, timeout: float = 600, readme: bool = True, only: list | None = None) -> int:
    """Execute every notebook (`only`: the notebooks named; the others' pages show their source, no cell run),
    write `_docs/` and README.md; 0 when every notebook executed ran, else 1 (pages still written)"""
    cfg = get_config()
    nbs = cfg.nbs_path
    config = site_config(cfg.config_path, nbs)  # rewrites nbs/nbdev.yml and nbs/sidebar.yml: the clock starts after
    names, web = sidebar_notebooks(config), config['website']
    unknown = sorted(set(only or []) - set(names))
    if unknown: sys.exit(f"docs: --only {' '.join(unknown)}: not in the site's sidebar ({', '.join(names)})")
    out = cfg.config_path / config['project']['output-dir']  # nbdev moves Quarto's output folder to the top level
    started = time.time()
    run = [n for n in names if only is None or n in only]
    print(f'executing {len(run)} of {len(names)} notebooks with {n_workers} workers'
          + ('' if only is None else ', the others shown without running a cell'), flush=True)
    cache = cfg.config_path / '_proc'  # nbdev's build cache (gitignored)
    cache.mkdir(exist_ok=True)
    with ThreadPoolExecutor(n_workers) as pool:  # threads only wait: each notebook runs in its own process
        pages = list(pool.map(lambda n: run_isolated(nbs / n, cache, timeout, execute=n in run), names))
    for p in pages:
        state = '  FAILED' if p['error'] else '' if p['src'] in run else '  (not executed)'
        print(f"{p['seconds']:7.1f}s  {p['src']}{state}", flush=True)
    site = dict(title=web['title'], description=web.get('description', ''), repo_url=web['repo-url'], pages=pages,
                css=site_css(config, nbs), url=web['site-url'].rstrip('/'), root=cfg.config_path)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for p in pages: (out / p['href']).write_text(render_page(p, pages, site, nbs), encoding='utf-8')
    try: write_web_assets(out)
    except DistilserError as e: sys.exit(f'docs: {e}')
    index = next((p for p in pages if p['src'] == cfg.readme_nb and p['src'] in run and not p['error']), None)
    if readme and index: write_readme(index, cfg.config_path)
    failed = [p for p in pages if p['error']]
    for p in failed: sys.stderr.write(p['error'] + '\n')
    if failed:
        print(f"docs: {len(failed)} notebook(s) failed: {', '.join(p['src'] for p in failed)}", file=sys.stderr)
        return 1
    if only is None:  # the stamp says that every notebook ran: a partial site never carries it
        (out / STAMP).write_text('\n'.join(p['href'] for p in pages) + '\n')
        os.utime(out / STAMP, (started, started))  # a notebook edited during the build is newer than the site
    print(f'docs: {len(pages)} pages in {out}/' + (' and README.md' if readme and index else '')
          + ('' if only is None else f" ({len(run)} executed: {', '.join(run)}; not a full build, no {STAMP} stamp)"))
    return 0


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n_workers', type=int, default=2, help='notebooks executed in parallel (default 2)')
    ap.add_argument('--timeout', type=float, default=600, help='seconds one notebook may run (default 600)')
    ap.add_argument('--no-readme', dest='readme', action='store_false', help='do not rewrite README.md')
    ap.add_argument('--only', nargs='+', metavar='NOTEBOOK',
                    help='execute only these notebooks (e.g. index.ipynb: README.md and the home page); the other '
                         'pages show their source, no cell run, and the site is not stamped as built')
    sys.exit(build(**vars(ap.parse_args())))
