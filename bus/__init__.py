"""The LGSP bus core library: settings, errors, event contracts, serde, publishing and consuming.

`bus` depends on neither `producers` nor `consumers`; both build on it.
"""

__version__ = "0.1.0"
