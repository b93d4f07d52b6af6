"""News monitor core: follows one tracked event through news feeds and alerts on developments.

This package never imports Faust; the stream-processing glue lives in ``agents``.
"""

__version__ = "0.1.0"
