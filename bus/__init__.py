"""The LGSP bus core library: settings, errors, event contracts, serde, publishing and consuming.

`bus` depends on neither `producers` nor `consumers`; both build on it.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bus.publisher import Delivery, Publisher

__all__ = ["Delivery", "Publisher", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import bus.settings` does not pull in aiokafka, fastavro and the models.
    if name in ("Publisher", "Delivery"):
        from bus import publisher

        return getattr(publisher, name)
    raise AttributeError(f"module 'bus' has no attribute {name!r}")
