"""Signed events: key pairs and the keyring, the batch envelope (header ``lgsp_sig``), verification.

The format is documented in ``docs/security.md``. Tools that onboard an agency call
:func:`create_agency_key` and publish its :class:`KeyEntry` to the keyring topic.
"""

from bus.signing.keys import (
    KeyEntry,
    NewKey,
    agency_of_key_id,
    create_agency_key,
    load_private_key,
    principal_of_settings,
)

__all__ = [
    "KeyEntry",
    "NewKey",
    "agency_of_key_id",
    "create_agency_key",
    "load_private_key",
    "principal_of_settings",
]
