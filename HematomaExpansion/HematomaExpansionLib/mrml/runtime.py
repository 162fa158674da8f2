"""The Slicer runtime the logic works in: the application's, or a headless one on slicer-core.

Inside 3D Slicer the application's scene and module logics are used. Outside it (batch scripts,
the command line, CI) a scene is built with the application logic and the Colors, Volumes,
Terminologies, SubjectHierarchy and Segmentations logics, as Slicer's own startup does, so that
loading, segment export and storage behave the same in both places.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import slicer

logger = logging.getLogger(__name__)


def in_slicer_application() -> bool:
    """True when running inside the 3D Slicer application (``slicer.app`` exists)."""
    return getattr(slicer, "app", None) is not None


@dataclass
class SlicerRuntime:
    """A MRML scene together with the module logics this extension needs."""

    scene: Any
    app_logic: Any
    volumes_logic: Any
    segmentations_logic: Any
    headless: bool

    @classmethod
    def from_application(cls) -> SlicerRuntime:
        """Wrap the running Slicer application's scene and module logics."""
        return cls(
            scene=slicer.mrmlScene,
            app_logic=slicer.app.applicationLogic(),
            volumes_logic=slicer.modules.volumes.logic(),
            segmentations_logic=slicer.modules.segmentations.logic(),
            headless=False,
        )

    @classmethod
    def create_headless(cls) -> SlicerRuntime:
        """Build a scene and module logics on slicer-core, without Qt or an application."""
        scene = slicer.vtkMRMLScene()
        app_logic = slicer.vtkSlicerApplicationLogic()
        app_logic.SetMRMLScene(scene)
        color_logic = app_logic.GetColorLogic()
        color_logic.SetMRMLScene(scene)
        color_logic.AddDefaultColorNodes()
        # Volumes looks the Colors logic up by name to give new volumes a color table.
        app_logic.SetModuleLogic("Colors", color_logic)

        def register(name: str, logic: Any, observe_scene: bool = True) -> Any:
            logic.SetMRMLApplicationLogic(app_logic)
            if observe_scene:
                logic.SetMRMLScene(scene)
            app_logic.SetModuleLogic(name, logic)
            return logic

        volumes_logic = register("Volumes", slicer.vtkSlicerVolumesLogic())
        # slicer-core ships no terminology files; on a scene the logic would try to load them.
        register("Terminologies", slicer.vtkSlicerTerminologiesModuleLogic(), observe_scene=False)
        register("SubjectHierarchy", slicer.vtkSlicerSubjectHierarchyModuleLogic())
        segmentations_logic = register("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic())
        logger.debug("created a headless Slicer runtime on slicer-core")
        return cls(
            scene=scene,
            app_logic=app_logic,
            volumes_logic=volumes_logic,
            segmentations_logic=segmentations_logic,
            headless=True,
        )

    @classmethod
    def current(cls) -> SlicerRuntime:
        """The application's runtime inside Slicer, else a process-wide headless one."""
        if in_slicer_application():
            return cls.from_application()
        return _shared_headless_runtime()

    def clear(self) -> None:
        """Remove all data nodes from the scene (as a module test's setUp does)."""
        self.scene.Clear(False)


@functools.cache
def _shared_headless_runtime() -> SlicerRuntime:
    return SlicerRuntime.create_headless()
