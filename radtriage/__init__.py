"""SlicerRadTriage core: slicer-free I/O, preprocessing, phantoms, models and tasks.

Nothing in this package imports ``slicer`` or ``qt``; the MRML layer in
``radtriage.mrml`` imports only Slicer's MRML/logic classes (slicer-core).
"""

from radtriage.errors import InputError, RadTriageError, UnsupportedInputError
from radtriage.lazy_exports import lazy_exports

__version__ = "0.1.0"

__all__ = ["Image", "InputError", "RadTriageError", "UnsupportedInputError", "__version__"]


# ``radtriage.Image`` is imported on first use, so ``python -m radtriage doctor`` runs without numpy
__getattr__ = lazy_exports(__name__, {"image": ("Image",)})
