"""distilser's default model, whisper-base-five-corpora-v1, as a package of its own: its card, its ONNX file and the
heads of its scenarios live beside this file. distilser finds it by its `distilser.models` entry point; it is too
large for distilser's plain install (300 MB in all), so it installs apart: `pip install
distilser-whisper-base-five-corpora` (from the repository: `pip install models/whisper-base-five-corpora-v1`)."""
