"""3D Slicer module: predict early hematoma expansion from the first non-contrast head CT.

Template class split: Module (metadata), ParameterNode (parameterNodeWrapper), Widget (binds the
.ui to the parameter node and calls the Logic), Logic (HematomaExpansionLib.mrml.logic, which runs the
same way in batch mode and CI) and Test (the scenarios of HematomaExpansionLib.mrml.selftest, offline).
Everything the panel shows is computed by the Logic and the Slicer-free core; the widget binds.
"""

import logging
import threading
import time
from pathlib import Path
from typing import Annotated

import ctk
import qt
import slicer
import vtk
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from HematomaExpansionLib.common.atomic import write_csv_atomic
from HematomaExpansionLib.common.errors import OperationCancelledError, SegmentExistsError
from HematomaExpansionLib.common.requirements import REQUIREMENTS_FILE, first_use_needs
from HematomaExpansionLib.features.clinical import required_covariates
from HematomaExpansionLib.imaging.draft_parameters import DEFAULT_DRAFT_HU_RANGE
from HematomaExpansionLib.model.applicability import ApplicabilityChecklist
from HematomaExpansionLib.model.card import CARD_FILE, read_card
from HematomaExpansionLib.model.registry import DEFAULT_MODEL_ID, available_models
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.mrml.runtime import SlicerRuntime
from HematomaExpansionLib.mrml.tables import table_node_rows

# Progress shown for each stage of a prediction (percent when the stage starts).
STAGE_PROGRESS = {"validate": 5, "geometry": 10, "radiomics": 20, "deep": 60, "model": 95}
DEVICES = (("auto", "Automatic (GPU if available)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)"))
DraftHu = Annotated[float, WithinRange(-100.0, 300.0)]  # the range of the panel's HU spin boxes

#
# HematomaExpansion
#


class HematomaExpansion(ScriptedLoadableModule):
    """Module metadata shown in Slicer's module list and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Hematoma Expansion")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Segmentations", "Markups"]
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
    """The panel's state, stored in the scene: saving the scene keeps inputs and results."""

    inputVolume: vtkMRMLScalarVolumeNode
    segmentationNode: vtkMRMLSegmentationNode
    segmentId: str = ""
    seedPoint: vtkMRMLMarkupsFiducialNode
    draftMinimumHu: DraftHu = DEFAULT_DRAFT_HU_RANGE[0]
    draftMaximumHu: DraftHu = DEFAULT_DRAFT_HU_RANGE[1]
    modelId: str = DEFAULT_MODEL_ID
    addedModelFolders: list[str]  # extra model folders, from "Add model folder..."
    onsetWithin6h: bool = False
    spontaneousIch: bool = False
    noConventionalSigns: bool = False
    device: str = "auto"
    weightsFile: str = ""
    outputFolder: str = ""
    riskProbability: float = -1.0  # below 0: no result yet
    categoryText: str = ""
    volumeText: str = ""
    resultWarnings: list[str]
    featuresTable: vtkMRMLTableNode
    sliceImages: vtkMRMLScalarVolumeNode


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
        self._lastResult = None
        self._models = []
        self._updatingGui = False
        self._running = False
        self._cancelRequested = False
        self._warmUpThread = None
        self._warmUpTimer = None
        self._covariateForm = None  # the selected model's covariate fields (name -> widget)
        self._covariateFields = {}

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HematomaExpansion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HematomaExpansionLogic()

        for device, label in DEVICES:
            self.ui.deviceComboBox.addItem(label, device)
        self.ui.weightsFilePathLineEdit.filters = ctk.ctkPathLineEdit.Files
        self.ui.outputFolderPathLineEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.ui.progressBar.hide()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentChanged)
        self.ui.editSegmentButton.connect("clicked(bool)", self.onEditSegment)
        self.ui.draftButton.connect("clicked(bool)", self.onDraft)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.addModelFolderButton.connect("clicked(bool)", self.onAddModelFolder)
        self.ui.deviceComboBox.connect("currentIndexChanged(int)", self.onDeviceChanged)
        self.ui.weightsFilePathLineEdit.connect("currentPathChanged(QString)", self.onWeightsFileChanged)
        self.ui.outputFolderPathLineEdit.connect("currentPathChanged(QString)", self.onOutputFolderChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.measureSignsButton.connect("clicked(bool)", self.onMeasureSigns)
        self.ui.showSlicesButton.connect("clicked(bool)", self.onShowSlices)
        self.ui.exportReportButton.connect("clicked(bool)", self.onExportReport)
        self.ui.exportTableButton.connect("clicked(bool)", self.onExportTable)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self._startWarmUp()

    def _startWarmUp(self) -> None:
        """Load and run the selected model's network once, in the background, so the first prediction is fast."""
        if self._warmUpThread is not None or self._parameterNode is None:
            return
        if first_use_needs().pip_or_torch_needed:  # installed at the first prediction, after a question
            return
        parameters = self._parameterNode
        arguments = (parameters.modelId, parameters.device, parameters.weightsFile or None)
        self._warmUpThread = threading.Thread(target=self._warmUp, args=arguments, daemon=True)
        self._warmUpThread.start()
        # The main thread holds Python's lock while Qt waits for events; giving it up for a moment on
        # a timer lets the warm-up thread run while the panel stays responsive.
        self._warmUpTimer = qt.QTimer()
        self._warmUpTimer.setInterval(20)
        self._warmUpTimer.connect("timeout()", self._yieldToWarmUp)
        self._warmUpTimer.start()

    def _yieldToWarmUp(self) -> None:
        if self._warmUpThread.is_alive():
            time.sleep(0.01)
        else:
            self._warmUpTimer.stop()

    def _warmUp(self, modelId, device, weightsFile) -> None:
        try:
            self.logic.warm_up(modelId, device, weightsFile)
        except Exception:  # the prediction itself reports what is wrong with the model or the weights
            logging.exception("Hematoma Expansion: warming up the network failed")

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateFromParameterNode
            )

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
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateFromParameterNode
            )
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateFromParameterNode)
            self._populateModels()
            self._updateFromParameterNode()

    # --- widgets without a parameterNodeWrapper connector

    def _updateFromParameterNode(self, caller=None, event=None) -> None:
        parameters = self._parameterNode
        if parameters is None or self._updatingGui:
            return
        self._updatingGui = True  # the widgets' change signals must not write back while we set them
        try:
            self.ui.segmentSelector.setCurrentSegmentID(parameters.segmentId)
            deviceIndex = self.ui.deviceComboBox.findData(parameters.device)
            self.ui.deviceComboBox.setCurrentIndex(max(deviceIndex, 0))
            self.ui.weightsFilePathLineEdit.currentPath = parameters.weightsFile
            self.ui.outputFolderPathLineEdit.currentPath = parameters.outputFolder
        finally:
            self._updatingGui = False
        self._checkCanApply()
        self._showStoredResult()

    def _modelFolders(self) -> list[Path]:
        folders = self._parameterNode.addedModelFolders if self._parameterNode else []
        return [Path(folder) for folder in folders]

    def _populateModels(self) -> None:
        self.logic.model_dirs = self._modelFolders()
        combo = self.ui.modelComboBox
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        self._models = available_models(self.logic.model_dirs)
        for summary in self._models:
            combo.addItem(f"{summary.model_id} ({summary.kind})", summary.model_id)
        combo.setCurrentIndex(max(combo.findData(self._parameterNode.modelId), 0))
        combo.blockSignals(wasBlocked)
        self._showModelSummary()

    def _showModelSummary(self) -> None:
        modelId = self.ui.modelComboBox.itemData(self.ui.modelComboBox.currentIndex)
        summary = next((m for m in self._models if m.model_id == modelId), None)
        self.ui.modelSummaryLabel.text = summary.describe() if summary else _("No model installed.")
        self._showCovariateFields(summary)

    def _showCovariateFields(self, summary) -> None:
        """A field per clinical covariate the selected model needs (from its card), under the selector.

        A spin box at its lowest value shows "not given": the prediction then names it as missing.
        """
        if self._covariateForm is not None:
            self._covariateForm.deleteLater()
        self._covariateForm, self._covariateFields = None, {}
        specs = required_covariates(read_card(summary.folder / CARD_FILE)) if summary else []
        if not specs:
            return
        self._covariateForm = qt.QWidget()
        form = qt.QFormLayout(self._covariateForm)
        for spec in specs:
            if spec.kind == "binary":
                field = qt.QCheckBox()
            else:
                field = qt.QDoubleSpinBox()
                field.decimals = 2
                low = spec.minimum if spec.minimum is not None else -1e6
                field.setRange(low - 0.01, spec.maximum if spec.maximum is not None else 1e6)
                field.specialValueText = _("not given")
                field.value = field.minimum
            field.toolTip = _("Clinical covariate {name} of the model").format(name=spec.name)
            form.addRow(f"{spec.short_name} ({spec.unit}):" if spec.unit else f"{spec.short_name}:", field)
            self._covariateFields[spec.name] = field
        self.ui.modelCollapsibleButton.layout().addRow(self._covariateForm)

    def _covariateValues(self) -> dict[str, float]:
        """The covariate fields' values; a spin box showing "not given" is left out."""
        values = {}
        for name, field in self._covariateFields.items():
            if isinstance(field, qt.QCheckBox):
                values[name] = 1.0 if field.checked else 0.0
            elif field.value > field.minimum:
                values[name] = field.value
        return values

    def onSegmentChanged(self, segmentId) -> None:
        if self._parameterNode and not self._updatingGui:
            self._parameterNode.segmentId = segmentId or ""

    def onModelChanged(self, index) -> None:
        if self._parameterNode and index >= 0:
            self._parameterNode.modelId = self.ui.modelComboBox.itemData(index)
        self._showModelSummary()

    def onDeviceChanged(self, index) -> None:
        if self._parameterNode and index >= 0 and not self._updatingGui:
            self._parameterNode.device = self.ui.deviceComboBox.itemData(index)

    def onWeightsFileChanged(self, path) -> None:
        if self._parameterNode and not self._updatingGui:
            self._parameterNode.weightsFile = path

    def onOutputFolderChanged(self, path) -> None:
        if self._parameterNode and not self._updatingGui:
            self._parameterNode.outputFolder = path

    def onAddModelFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(
            self.parent, _("Select a model folder (with model.json)")
        )
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("This folder holds no usable model."), waitCursor=True):
            available_models([folder])  # reads and checks the card(s) before the folder is remembered
            folders = self._parameterNode.addedModelFolders
            self._parameterNode.addedModelFolders = [*folders, str(Path(folder))]
            self._populateModels()

    def _checkCanApply(self) -> None:
        parameters = self._parameterNode
        reason = self.logic.cannot_apply_reason(
            parameters.inputVolume, parameters.segmentationNode, parameters.segmentId
        )
        if reason is None and not self._models:
            reason = _("No model is installed; add a model folder.")
        self.ui.applyButton.enabled = self._running or reason is None
        self.ui.applyButton.toolTip = reason or _("Predict the risk of early hematoma expansion.")

    # --- segmentation

    def onEditSegment(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not open the Segment Editor."), waitCursor=True):
            parameters = self._parameterNode
            segmentationNode, segmentId = self.logic.create_hematoma_segment(
                parameters.inputVolume, parameters.segmentationNode
            )
            parameters.segmentationNode = segmentationNode
            parameters.segmentId = segmentId
            slicer.util.selectModule("SegmentEditor")
            editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
            editor.setSegmentationNode(segmentationNode)
            editor.setSourceVolumeNode(parameters.inputVolume)
            editor.setCurrentSegmentID(segmentId)

    def onDraft(self) -> None:
        if not self._ensureDependencies():
            return
        parameters = self._parameterNode
        seed = None
        if parameters.seedPoint and parameters.seedPoint.GetNumberOfControlPoints() > 0:
            seed = [0.0, 0.0, 0.0]
            parameters.seedPoint.GetNthControlPointPositionWorld(0, seed)
        huRange = (parameters.draftMinimumHu, parameters.draftMaximumHu)
        with slicer.util.tryWithErrorDisplay(_("Failed to draft the hematoma."), waitCursor=True):
            try:
                segmentationNode, segmentId, draft = self.logic.draft_hematoma_segment(
                    parameters.inputVolume, parameters.segmentationNode, seed, huRange
                )
            except SegmentExistsError as error:
                if not slicer.util.confirmYesNoDisplay(
                    str(error) + "\n\n" + _("Replace the existing draft?")
                ):
                    return
                segmentationNode, segmentId, draft = self.logic.draft_hematoma_segment(
                    parameters.inputVolume, parameters.segmentationNode, seed, huRange, overwrite=True
                )
            parameters.segmentationNode = segmentationNode
            parameters.segmentId = segmentId
            message = _(
                "Drafted {volume:.1f} mL ({reason}). Correct it layer by layer in the Segment Editor."
            ).format(volume=draft.volume_ml, reason=draft.chosen_component_reason)
            self.ui.statusLabel.text = "\n".join([message, *draft.warnings])

    # --- prediction

    def _ensureDependencies(self) -> bool:
        """Install missing Python packages at first use, after one confirmation."""
        needs = first_use_needs()
        if needs.radiomics_missing:
            slicer.util.errorDisplay(
                _(
                    "pyradiomics is missing: install the SlicerRadiomics extension (Extensions Manager) and restart."
                )
            )
            return False
        if not needs.pip_or_torch_needed:
            return True
        if not slicer.util.confirmOkCancelDisplay(
            _("Hematoma Expansion needs these Python packages: {packages}. Install them now?").format(
                packages=needs.describe()
            )
        ):
            return False
        with slicer.util.tryWithErrorDisplay(_("Failed to install the required packages."), waitCursor=True):
            if needs.torch_missing and not self._installTorch():
                return False
            if needs.missing:
                self._pipInstall(needs.missing)
            return True
        return False

    @staticmethod
    def _installTorch() -> bool:
        try:
            import PyTorchUtils
        except ImportError:
            slicer.util.errorDisplay(_("Install the PyTorch extension (Extensions Manager) and restart."))
            return False
        PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False)
        return True

    @staticmethod
    def _pipInstall(missing: list[str]) -> None:
        """Resources/requirements.txt through slicer.packaging (Slicer 5.12+), else each missing one."""
        try:
            import slicer.packaging as packaging
        except ImportError:
            packaging = None
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            requirements = packaging.load_requirements(str(REQUIREMENTS_FILE))
            # The user has confirmed above, in the same question that lists PyTorch.
            packaging.pip_ensure(requirements, prompt_install=False, requester="Hematoma Expansion")
        else:
            for requirement in missing:
                slicer.util.pip_install(requirement)

    def _onStage(self, stage: str) -> None:
        self.ui.progressBar.value = STAGE_PROGRESS.get(stage, self.ui.progressBar.value)
        self.ui.statusLabel.text = _("Running: {stage}").format(stage=stage)
        slicer.app.processEvents()
        if self._cancelRequested:
            raise OperationCancelledError(_("Prediction cancelled."))

    def onApplyButton(self) -> None:
        if self._running:
            self._cancelRequested = True
            return
        if not self._ensureDependencies():
            return
        parameters = self._parameterNode
        checklist = ApplicabilityChecklist(
            onset_to_ct_within_6h=parameters.onsetWithin6h,
            spontaneous_ich=parameters.spontaneousIch,
            no_conventional_signs=parameters.noConventionalSigns,
        )
        if self._warmUpThread is not None:
            self._warmUpThread.join()  # the network is being loaded; the prediction uses it when ready
        self._running, self._cancelRequested = True, False
        self.ui.applyButton.text = _("Cancel")
        self.ui.progressBar.show()
        try:
            with slicer.util.tryWithErrorDisplay(_("Failed to predict hematoma expansion."), waitCursor=True):
                try:
                    result = self.logic.predict(
                        parameters.inputVolume,
                        parameters.segmentationNode,
                        parameters.segmentId or None,
                        parameters.modelId,
                        parameters.device,
                        parameters.weightsFile or None,
                        checklist,
                        progress=self._onStage,
                        clinical=self._covariateValues(),
                    )
                except OperationCancelledError:
                    self.ui.statusLabel.text = _("Cancelled.")
                    return
                self._lastResult = result
                parameters.featuresTable = self.logic.prediction_table(result, parameters.featuresTable)
                if result.extraction.slice_images is not None:
                    parameters.sliceImages = self.logic.slice_images_volume(result, parameters.sliceImages)
                parameters.categoryText = result.category_text
                parameters.volumeText = result.volume_text
                parameters.resultWarnings = list(result.warnings)
                self.ui.measuredSignsLabel.text = result.signs.suggestion_text()
                parameters.riskProbability = result.probability  # last: it marks the result as complete
                self.ui.statusLabel.text = _("Done.")
        finally:
            self._running = False
            self.ui.applyButton.text = _("Predict expansion risk")
            self.ui.progressBar.hide()
            self._checkCanApply()

    def onMeasureSigns(self) -> None:
        """Show the measured conventional signs beside "no conventional signs" as a suggestion."""
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Failed to measure the conventional signs."), waitCursor=True):
            report = self.logic.measure_signs(
                parameters.inputVolume, parameters.segmentationNode, parameters.segmentId or None
            )
            self.ui.measuredSignsLabel.text = report.suggestion_text()

    def _showStoredResult(self) -> None:
        parameters = self._parameterNode
        hasResult = parameters.riskProbability >= 0
        self.ui.riskLabel.text = f"{parameters.riskProbability:.0%}" if hasResult else "-"
        self.ui.categoryLabel.text = parameters.categoryText if hasResult else ""
        self.ui.volumeLabel.text = parameters.volumeText if hasResult else ""
        self.ui.warningsLabel.text = "\n".join(parameters.resultWarnings) if hasResult else ""
        self.ui.featuresTableView.setMRMLTableNode(parameters.featuresTable)
        self.ui.showSlicesButton.enabled = parameters.sliceImages is not None
        self.ui.exportTableButton.enabled = parameters.featuresTable is not None
        self.ui.exportReportButton.enabled = self._lastResult is not None

    def onShowSlices(self) -> None:
        slicer.util.setSliceViewerLayers(background=self._parameterNode.sliceImages, fit=True)

    def _savePath(self, title, fileName, fileFilter):
        folder = self._parameterNode.outputFolder or str(Path.home())
        return qt.QFileDialog.getSaveFileName(self.parent, title, str(Path(folder) / fileName), fileFilter)

    def onExportReport(self) -> None:
        from HematomaExpansionLib.reports.case_report import write_case_report

        path = self._savePath(_("Export report"), "hematoma_expansion_report.html", "HTML (*.html)")
        if path:
            with slicer.util.tryWithErrorDisplay(_("Failed to write the report."), waitCursor=True):
                parameters = self._parameterNode
                checklist = ApplicabilityChecklist(
                    parameters.onsetWithin6h, parameters.spontaneousIch, parameters.noConventionalSigns
                )
                write_case_report(self._lastResult, Path(path), parameters.inputVolume.GetName(), checklist)

    def onExportTable(self) -> None:
        path = self._savePath(_("Export table"), "hematoma_expansion_features.csv", "CSV (*.csv)")
        if path:
            with slicer.util.tryWithErrorDisplay(_("Failed to write the table."), waitCursor=True):
                rows = table_node_rows(self._parameterNode.featuresTable)
                columns = list(rows[0]) if rows else []
                write_csv_atomic(Path(path), columns, [[row[c] for c in columns] for row in rows])


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
    """Self-test: each scenario of HematomaExpansionLib.mrml.selftest as its own test, offline."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_measure_loaded_phantom()
        self.setUp()
        self.test_bad_input_is_refused_and_nothing_changes()
        self.setUp()
        self.test_draft_hematoma_matches_truth()
        self.setUp()
        self.test_predict_drafted_hematoma_with_bundled_model()
        self.delayDisplay("HematomaExpansion self-test passed")

    def test_measure_loaded_phantom(self):
        self._runScenario(_selftest().scenario_measure_loaded_phantom)

    def test_bad_input_is_refused_and_nothing_changes(self):
        self._runScenario(_selftest().scenario_bad_input_is_refused_and_nothing_changes)

    def test_draft_hematoma_matches_truth(self):
        self._runScenario(_selftest().scenario_draft_hematoma_matches_truth)

    def test_predict_drafted_hematoma_with_bundled_model(self):
        self._runScenario(_selftest().scenario_predict_drafted_hematoma_with_bundled_model)

    def _runScenario(self, scenario) -> None:
        logging.info("HematomaExpansion self-test: %s", scenario.__name__)
        self.delayDisplay(scenario.__doc__ or scenario.__name__)
        scenario(HematomaExpansionLogic(), self)
        self.delayDisplay(f"{scenario.__name__.removeprefix('scenario_')}: passed")


def _selftest():
    """The scenarios module, imported when a test runs (it needs the first-use packages)."""
    from HematomaExpansionLib.mrml import selftest

    return selftest
