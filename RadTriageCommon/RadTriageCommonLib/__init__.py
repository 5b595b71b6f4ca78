"""Slicer-side code shared by the RadTriage modules (imported inside methods, never at module level).

* :mod:`.dependencies_dialog` - first-use check and install of the core's Python dependencies;
* :mod:`.job_controller` - runs a ``radtriage`` background job from a module's Apply button under a QTimer;
* :mod:`.job_files` - the job's working folder and the import of its output files into the scene.

Nothing here imports ``slicer``, ``qt`` or ``radtriage`` at module level, so the pure parts are testable
without Slicer.
"""
