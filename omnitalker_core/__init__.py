"""OmniTalker core library: text + reference clip -> speech mel + 61-D facial motion (arXiv 2504.02433).

Imports nothing from ComfyUI, so it can be used from plain Python and the command line
(`python -m omnitalker_core --help`).
"""

__version__ = "0.1.0"
