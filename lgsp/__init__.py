"""The ``lgsp`` command line: a thin layer that wires settings to ``bus``, ``producers`` and ``consumers``."""
