"""SlicerRadTriage core: slicer-free I/O, preprocessing, phantoms, models and tasks.

Nothing in this package imports ``slicer`` or ``qt``; the MRML layer in
``radtriage.mrml`` imports only Slicer's MRML/logic classes (slicer-core).
"""

from radtriage.errors import InputError, RadTriageError, UnsupportedInputError

__version__ = "0.1.0"

__all__ = ["Image", "InputError", "RadTriageError", "UnsupportedInputError", "__version__"]


def __getattr__(name: str) -> object:
    """``radtriage.Image`` is imported on first use, so ``python -m radtriage doctor`` runs without numpy."""
    if name == "Image":
        from radtriage.image import Image

        return Image
    raise AttributeError(f"module 'radtriage' has no attribute {name!r}")
