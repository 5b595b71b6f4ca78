"""The shared base on Slicer's scripted-module template classes, as the RadTriage modules derive from them.

``class X(RadTriageModule)``, ``class XWidget(RadTriageWidget)``, ``class XLogic(RadTriageLogic)``,
``class XTest(RadTriageTest)``: the last three are the
mixins of :mod:`.module_base` listed before ``ScriptedLoadableModuleWidget`` / ``...Logic`` / ``...Test`` (and
``VTKObservationMixin``), once for every module. This file imports ``slicer`` at module level, so it is only
imported inside Slicer; everything testable without Slicer is in :mod:`.module_base`.
"""

from __future__ import annotations

from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from .module_base import ModuleLogicBase, ModuleTestBase, ModuleWidgetBase, describeModule


class RadTriageModule(ScriptedLoadableModule):
    """A RadTriage module's description: ``class X(RadTriageModule)`` with the class attributes ``title``,
    ``about`` (the help text; :func:`.module_base.describeModule` adds the Slicer it needs, the demo notice and
    the documentation link ``#anchor``), ``anchor`` and ``demo`` (False: no demo model, e.g. CaseReview)."""

    title = ""
    about = ""
    anchor = ""
    demo = True

    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        describeModule(self.parent, self.title, self.about, self.anchor, self.demo)


class RadTriageWidget(ModuleWidgetBase, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """A RadTriage module's widget: the base's life cycle and job on Slicer's widget template."""


class RadTriageLogic(ModuleLogicBase, ScriptedLoadableModuleLogic):
    """A RadTriage module's Logic: the base's volume, geometry and job helpers on Slicer's Logic template."""


class RadTriageTest(ModuleTestBase, ScriptedLoadableModuleTest):
    """A RadTriage module's self-test: dependency check (install or skip) on Slicer's test template."""
