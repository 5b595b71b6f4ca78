"""Web review station (``radtriage serve``): the case-review loop in a browser on Slicer's MRML core via
trame-slicer — slice and 3D views, task runs with progress, overlays, label controls writing to the annotation
store. Nothing is imported here; trame and slicer-core load when the server starts (:mod:`.station`; the command
line is :mod:`radtriage.commands.serve`)."""
