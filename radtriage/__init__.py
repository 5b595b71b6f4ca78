"""SlicerRadTriage core: slicer-free I/O, preprocessing, phantoms, models and tasks.

Nothing in this package imports ``slicer`` or ``qt``; the MRML layer in
``radtriage.mrml`` imports only Slicer's MRML/logic classes (slicer-core).
"""

from radtriage.errors import InputError, RadTriageError, UnsupportedInputError
from radtriage.image import Image

__version__ = "0.1.0"

__all__ = ["Image", "InputError", "RadTriageError", "UnsupportedInputError", "__version__"]
