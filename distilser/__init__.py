__version__ = "0.1.0"

# `distilser.analyze(path)`: the one-line API, imported on first use so that `import distilser` stays instant.
# This file is the package's only hand-written module: nbdev rewrites the version line and leaves the rest.
def __getattr__(name):
    if name in ('analyze', 'NoteAnalysis'):
        from . import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module 'distilser' has no attribute {name!r}")
