"""Command-line verbs; see `omnitalker_core/__main__.py` for the contract of a verb module."""
