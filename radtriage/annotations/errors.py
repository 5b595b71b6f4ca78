"""Errors of the annotation store; each names the case, reader, schema or value at fault."""

from __future__ import annotations

from radtriage.errors import RadTriageError


class AnnotationError(RadTriageError, ValueError):
    """Base class: the annotation request cannot be carried out; nothing was written."""


class LabelValueError(AnnotationError):
    """A label value or target does not fit its label schema."""


class UnknownCaseError(AnnotationError):
    """The case is not in the store."""


class UnknownReaderError(AnnotationError):
    """The reader is not in the store."""


class UnknownSchemaError(AnnotationError):
    """No label schema of that name is registered."""


class ConflictError(AnnotationError):
    """A case, reader or schema of that name is already stored with a different definition,
    or a retraction found nothing left to retract."""


class StoreBusyError(AnnotationError):
    """The database stayed locked by another writer through every retry."""
