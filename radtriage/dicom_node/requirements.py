"""The ``dicom-node`` extra: a one-line refusal when one of its packages (pynetdicom, dicomweb-client) is missing."""

from __future__ import annotations

from radtriage.errors import RadTriageError

EXTRA_HINT = "pip install 'radtriage[dicom-node]'"


def require_node_packages() -> None:
    """Refuse with one line when the ``dicom-node`` extra (pynetdicom, dicomweb-client) is missing."""
    for module in ("pynetdicom", "dicomweb_client"):
        try:
            __import__(module)
        except ModuleNotFoundError:
            raise RadTriageError(f"No module named {module!r}: radtriage listen needs the optional extra, "
                                 f"{EXTRA_HINT}") from None
