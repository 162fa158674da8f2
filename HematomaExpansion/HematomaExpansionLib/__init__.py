"""Slicer-free core of the HematomaExpansion extension.

Everything that decides anything lives here and runs without Slicer, Qt or VTK;
only ``mrml`` (the MRML adapter and headless runtime) and the module file import Slicer.
"""

__version__ = "0.2.0"
