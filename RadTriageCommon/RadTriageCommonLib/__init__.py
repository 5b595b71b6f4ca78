"""Slicer-side code shared by the RadTriage modules.

* :mod:`.module_base` - the shared module base: widget life cycle, parameter node, Apply/Cancel job, results on
  the nodes a job ran on, scoped shortcuts, folder fields, the module description, Logic helpers, self-test base;
* :mod:`.scripted` - that base on Slicer's scripted-module template classes (``RadTriageModule``,
  ``RadTriageWidget``, ``RadTriageLogic``, ``RadTriageTest``), what the module files derive from;
* :mod:`.dependencies_dialog` - first-use check and install of the core's Python dependencies;
* :mod:`.job_controller` - runs a ``radtriage`` background job from a module's Apply button under a QTimer;
* :mod:`.job_files` - the job's working folder and the import of its output files into the scene;
* :mod:`.testing` - what the modules' self-tests share (dependency check: install or skip; job checks).

The module files import :mod:`.module_base` and :mod:`.scripted` at module level, the rest inside methods.
Only :mod:`.scripted` imports ``slicer`` at module level; nothing imports ``qt`` or ``radtriage`` there, so the
pure parts are testable without Slicer.
"""
