"""3D Slicer module: predict early hematoma expansion from the first non-contrast head CT.

Template class split: Module (metadata), ParameterNode (parameterNodeWrapper), Widget (binds the
.ui to the parameter node), Logic (the node-level logic of HematomaExpansionLib.logic) and Test
(the self-test scenarios of HematomaExpansionLib.selftest, run offline on a small phantom).
"""

import logging

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from HematomaExpansionLib.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.mrml_runtime import SlicerRuntime

#
# HematomaExpansion
#


class HematomaExpansion(ScriptedLoadableModule):
    """Module metadata shown in Slicer's module list and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Hematoma Expansion")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["HematomaExpansion developers"]
        self.parent.helpText = _(
            "Predicts early hematoma expansion in spontaneous intracerebral hemorrhage from the first "
            "non-contrast head CT and a hematoma segmentation: radiomics of the 3D hematoma and ResNet50 "
            "features of its largest axial cross-section and the slices 1 and 2 mm above and below, fused "
            "by LASSO and classified by an SVM. Research use only; not for clinical decisions."
        )
        self.parent.acknowledgementText = _(
            "Implements the method of Lu et al., Chinese Journal of Medical Imaging 2024;32(12):1215-1221. "
            "Uses pyradiomics (SlicerRadiomics) and PyTorch."
        )


#
# HematomaExpansionParameterNode
#


@parameterNodeWrapper
class HematomaExpansionParameterNode:
    """Everything the panel shows, stored in the scene so that saving the scene keeps it."""

    inputVolume: vtkMRMLScalarVolumeNode
    segmentationNode: vtkMRMLSegmentationNode
    segmentId: str = ""
    measurementsTable: vtkMRMLTableNode


#
# HematomaExpansionWidget
#


class HematomaExpansionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: binds widgets to the parameter node and calls the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HematomaExpansion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HematomaExpansionLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self.ui.segmentSelector.setCurrentSegmentID(self._parameterNode.segmentId)
            self._checkCanApply()

    def onSegmentChanged(self, segmentId) -> None:
        if self._parameterNode:
            self._parameterNode.segmentId = segmentId or ""

    def _checkCanApply(self, caller=None, event=None) -> None:
        reason = self.logic.cannot_apply_reason(
            self._parameterNode.inputVolume if self._parameterNode else None,
            self._parameterNode.segmentationNode if self._parameterNode else None,
            self._parameterNode.segmentId if self._parameterNode else "",
        )
        self.ui.applyButton.enabled = reason is None
        self.ui.applyButton.toolTip = reason or _("Measure the hematoma")

    def onApplyButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to measure the hematoma."), waitCursor=True):
            parameters = self._parameterNode
            measurements = self.logic.measure(
                parameters.inputVolume, parameters.segmentationNode, parameters.segmentId or None
            )
            parameters.measurementsTable = self.logic.measurements_table(
                measurements, parameters.measurementsTable
            )
            self.ui.resultsTableView.setMRMLTableNode(parameters.measurementsTable)


#
# HematomaExpansionLogic
#


class HematomaExpansionLogic(ScriptedLoadableModuleLogic, HematomaExpansionLogicBase):
    """Works without the GUI: takes nodes and plain values, raises ValueError on bad input."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        HematomaExpansionLogicBase.__init__(self, SlicerRuntime.current())

    def getParameterNode(self):
        return HematomaExpansionParameterNode(super().getParameterNode())


#
# HematomaExpansionTest
#


class HematomaExpansionTest(ScriptedLoadableModuleTest):
    """Self-test: the scenarios of HematomaExpansionLib.selftest on the application's scene."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from HematomaExpansionLib import selftest

        for scenario in selftest.SCENARIOS:
            self.setUp()
            logging.info("HematomaExpansion self-test: %s", scenario.__name__)
            self.delayDisplay(scenario.__doc__ or scenario.__name__)
            scenario(HematomaExpansionLogic(), self)
        self.delayDisplay("HematomaExpansion self-test passed")
