"""The documentation site, checked in a real browser (Debian's headless Chromium driven by selenium).

`make docs` builds `_docs/` (it executes every notebook); the site is rebuilt here only when it is missing or older
than its notebooks and build scripts, so `make test` after `make docs` does not execute the notebooks again. Every
page reachable from the index is opened: it must load without console errors, carry its notebook's title, render
every figure, and every link to a local page or anchor must resolve. The sidebar must list the notebooks in order,
and every exported function or class must be documented (signature heading + docstring) on its notebook's page.
No page may show an absolute path of the machine that built it, and the site has one configuration, the top-level
_quarto.yml.
"""
import importlib, inspect, re, subprocess, sys, tempfile
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from execnb.nbio import read_nb

from distilser.export import shipped_models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'scripts'))
from nbdev_private import page_name, title_fields  # noqa: E402  (nbdev's private names; checks nbdev's version)

NBS, DOCS = ROOT / 'nbs', ROOT / '_docs'
STAMP = DOCS / '.built'  # written by scripts/build_docs.py once every page is built and every notebook ran
ARTIFACTS = DOCS / '_artifacts'  # the index screenshot, kept for people to look at (gitignored with _docs/)
CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-dev-shm-usage',
         '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1400,1000']


def notebooks():
    "nbs/ notebooks in site order: the index first, then by file name (the order of nbdev's sidebar.yml)"
    nbs = sorted(NBS.glob('*.ipynb'))
    return sorted(nbs, key=lambda p: (p.name != 'index.ipynb', p.name))


def title_of(nb_path, plain=False):
    "The title nbdev takes from the notebook's first `# Title` markdown cell (`plain`: without its code marks)"
    title = next(fm['title'] for c in read_nb(nb_path).cells if c.cell_type == 'markdown'
                 for fm in [title_fields(c.source)] if 'title' in fm)
    return title.replace('`', '') if plain else title


def sources():
    "What the site is made from (distilser/ is exported from the notebooks): a site older than any is rebuilt"
    scripts = [ROOT / 'scripts' / n for n in ('build_docs.py', 'docs_exec.py', 'nbdev_private.py')]
    return [*NBS.glob('*.ipynb'), *NBS.glob('*.yml'), *NBS.glob('*.css'), *ROOT.glob('web/*'), ROOT / '_quarto.yml', *scripts,
            ROOT / 'settings.ini']


@pytest.fixture(scope='module')
def site():
    "`_docs/`, built by `make docs` unless it already has every notebook's page and is newer than every source"
    pages = sorted(page_name(nb) for nb in notebooks())
    if (not STAMP.exists() or sorted(STAMP.read_text().split()) != pages
            or STAMP.stat().st_mtime < max(p.stat().st_mtime for p in sources())):
        r = subprocess.run(['make', 'docs'], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, f'make docs failed:\n{(r.stdout + r.stderr)[-6000:]}'
    return DOCS


@pytest.fixture(scope='module')
def browser(site):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), 'no Chromium: `make docs` installs chromium + chromium-driver'
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)  # with both paths given selenium-manager downloads nothing
    with tempfile.TemporaryDirectory() as profile:
        for f in FLAGS + [f'--user-data-dir={profile}']: opts.add_argument(f)
        opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(60)
        try: yield driver
        finally: driver.quit()


PAGE_JS = """
const imgs = [...document.images].map(i => ({src: i.getAttribute('src').slice(0, 80), complete: i.complete,
                                              width: i.naturalWidth}));
return {ready: document.readyState, title: document.title, imgs: imgs,
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        ids: [...document.querySelectorAll('[id]')].map(e => e.id),
        sidebar: [...document.querySelectorAll('nav.ds-sidebar li a')].map(a => a.getAttribute('href')),
        headings: [...document.querySelectorAll('h2[id], h3[id], h4[id]')].map(h => [h.id, h.textContent]),
        maths: [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width),
        text: document.body.innerText};
"""


def local_page(url):
    "The file a file:// link points to, and its fragment; None for links that leave the site"
    u = urlparse(url)
    return (Path(unquote(u.path)), u.fragment) if u.scheme == 'file' else None


@pytest.fixture(scope='module')
def crawl(site, browser):
    "Every page reachable from index.html by its links, opened in the browser: {file name: what the page shows}"
    pages, queue = {}, deque([site / 'index.html'])
    while queue:
        path = queue.popleft()
        if path.name in pages: continue
        browser.get(path.as_uri())
        info = browser.execute_script(PAGE_JS)
        info['console'] = [e for e in browser.get_log('browser') if e['level'] == 'SEVERE']
        if path.name == 'index.html':
            ARTIFACTS.mkdir(exist_ok=True)
            height = browser.execute_script('return document.documentElement.scrollHeight')
            browser.set_window_size(1400, min(height, 6000))
            browser.save_screenshot(str(ARTIFACTS / 'index.png'))
            browser.set_window_size(1400, 1000)
        pages[path.name] = info
        queue.extend(p for p, _ in filter(None, map(local_page, info['links'])) if p.exists() and p.suffix == '.html')
    return pages


def test_every_notebook_has_a_page(site):
    assert sorted(p.name for p in site.glob('*.html')) == sorted(page_name(nb) for nb in notebooks())


def test_every_page_reachable_and_titled(crawl):
    expected = {page_name(nb): title_of(nb, plain=True) for nb in notebooks()}
    assert sorted(crawl) == sorted(expected), 'pages not reachable by links from the index'
    for name, info in crawl.items():
        assert info['ready'] == 'complete', name
        assert info['title'] == expected[name], name
        assert info['console'] == [], f'{name}: browser errors {info["console"]}'
        assert '{target=' not in info['text'], f'{name}: pandoc link attributes shown as text'


def test_pages_show_no_machine_paths(crawl):
    "Outputs and tracebacks show paths relative to the repository, scratch folders as TMPDIR"
    scratch = re.compile(re.escape(tempfile.gettempdir()) + r'/tmp\w{8}\b')
    for name, info in crawl.items():
        assert str(ROOT) not in info['text'], f'{name} shows the absolute path of the repository'
        assert not scratch.search(info['text']), f'{name} shows a temporary folder: {scratch.search(info["text"])[0]}'


def test_one_site_configuration():
    "The top-level _quarto.yml is the site configuration; nbs/_quarto.yml, the one place nbdev 2 reads, links to it"
    top, link = ROOT / '_quarto.yml', NBS / '_quarto.yml'
    assert top.is_file() and not top.is_symlink()
    assert link.is_symlink() and link.resolve() == top.resolve(), 'nbs/_quarto.yml must be a link to ../_quarto.yml'



def test_sidebar_lists_notebooks_in_order(crawl):
    order = [page_name(nb) for nb in notebooks()]
    for name, info in crawl.items(): assert info['sidebar'] == order, name


def test_figures_render(crawl):
    assert crawl['index.html']['imgs'], 'the index has no figure (the pipeline diagram)'
    for name, info in crawl.items():
        for img in info['imgs']: assert img['complete'] and img['width'] > 0, f'{name}: broken image {img["src"]}'
        for width in info['maths']: assert width > 0, f'{name}: a formula renders empty'


def test_local_links_resolve(crawl, site):
    for name, info in crawl.items():
        for target, fragment in filter(None, map(local_page, info['links'])):
            assert target.exists(), f'{name} links to missing {target}'
            assert target.resolve().is_relative_to(site.resolve()), f'{name} links outside the site: {target}'
            if fragment and target.suffix == '.html':
                assert fragment in crawl[target.name]['ids'], f'{name} links to missing anchor {target.name}#{fragment}'


def normalise(s): return ' '.join(re.sub(r'[`*_]', '', s).split())


def exported_symbols():
    "(page, anchor, name, object) for every public top-level function or class in distilser, from nbdev's index"
    from distilser._modidx import d
    for mod, syms in d['syms'].items():
        m = importlib.import_module(mod)
        for qual, (link, _) in syms.items():
            name = qual[len(mod) + 1:]
            if '.' in name or name.startswith('_') or name not in getattr(m, '__all__', []): continue
            page, anchor = link.split('#')
            yield page, anchor, name, getattr(m, name)


def test_exported_api_is_documented(crawl):
    syms = list(exported_symbols())
    assert syms, 'distilser exports nothing'
    for page, anchor, name, obj in syms:
        info = crawl[page]
        headings = [[i, t.rstrip('¶').strip()] for i, t in info['headings']]
        assert [anchor, name] in headings, f'{page}: no show_doc for {name}'
        doc = inspect.getdoc(obj)
        if doc: assert normalise(doc.splitlines()[0]) in normalise(info['text']), f'{page}: docstring of {name} missing'


def test_index_is_the_front_page(crawl):
    "The two commands on top, the method, one headline table of every shipped model and the paper, the chapters"
    text = crawl['index.html']['text']
    commands = re.findall(r'^make \w+', text, flags=re.M)
    assert commands[:2] == ['make demo', 'make test']
    for must in ['The method on one page', 'How right, how small, how fast', 'Chapters', 'Licences', 'How to cite',
                 "the paper's production model", 'never heard']:
        assert must in text, must
    for name in shipped_models(): assert name in text, f'{name}: not in the table'  # a card with an ONNX file to run
    assert (ARTIFACTS / 'index.png').stat().st_size > 10_000


def test_results_page_has_every_result(crawl):
    "Every table of bench/results/ is on the Results page, under its own title, with a link to the chapter explaining it"
    text = crawl['results.html']['text']
    for must in ['Table I (paper)', 'Table II (paper)', '75.48 %', '46.64 %', 'the shipped models',
                 'random weights (offline configurations)', 'never accuracy']:
        assert must in text, must
    for f in sorted(ROOT.glob('bench/results/*.md')):
        title = re.match(r'#\s+(.*)', f.read_text())
        if title: assert normalise(title[1]) in normalise(text), f'{f.name}: its title is not on the Results page'
    assert len(crawl['results.html']['imgs']) == len(list(ROOT.glob('bench/results/*.png')))
    chapters = {page_name(nb) for nb in notebooks()}
    assert len({Path(urlparse(l).path).name for l in crawl['results.html']['links']} & chapters) >= 10


def test_readme_is_made_from_the_index(site):
    readme = (ROOT / 'README.md').read_text()
    assert readme.startswith(f"# {title_of(NBS / 'index.ipynb')}\n")
    first_block = re.search(r'```\w*\n(.*?)```', readme, flags=re.S)[1]
    assert [l.split('#')[0].strip() for l in first_block.strip().splitlines()] == ['make demo', 'make test']
    for img in re.findall(r'!\[[^]]*\]\(([^)]+)\)', readme): assert (ROOT / img).exists(), img
    assert len(readme.splitlines()) <= 200, 'README.md is the front page a newcomer reads: keep it to 200 lines'
    table = re.search(r'^\| model \|.*?\n\n', readme, flags=re.M | re.S)[0]  # the headline table
    assert len(shipped_models()) >= 2  # the two CNNs at least: an empty list would check nothing
    for name in shipped_models(): assert f'[{name}](' in table, name
