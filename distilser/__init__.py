__version__ = "0.1.0"

# This file is the package's only hand-written module: nbdev rewrites the version line and leaves the rest.
import logging

# torchao (brought by the pte extra) is imported by transformers whenever it is installed, and warns on import about a
# torch internal that is none of the user's business: two lines before every command's output. Set here, before any
# chapter's module imports transformers.
logging.getLogger('torch.utils._pytree').setLevel(logging.ERROR)

# `distilser.analyze(path)`: the one-line API, imported on first use so that `import distilser` stays instant.
def __getattr__(name):
    if name in ('analyze', 'NoteAnalysis'):
        from . import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module 'distilser' has no attribute {name!r}")
