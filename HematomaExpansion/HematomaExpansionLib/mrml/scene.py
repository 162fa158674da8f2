"""Scene housekeeping: how nodes are named in messages, and removing the nodes this extension adds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def node_label(node: Any) -> str:
    """A node's name and ID as used in error messages."""
    return f"'{node.GetName()}' ({node.GetID()})" if node is not None else "(none)"


def remove_node(scene: Any, node: Any) -> None:
    """Remove a node and its display and storage nodes from the scene."""
    storage = node.GetStorageNode()
    for i in range(node.GetNumberOfDisplayNodes()):
        scene.RemoveNode(node.GetNthDisplayNode(i))
    scene.RemoveNode(node)
    if storage is not None:
        scene.RemoveNode(storage)


@contextmanager
def scratch_nodes(scene: Any) -> Iterator[None]:
    """Remove the nodes added to ``scene`` inside the block (the scene's other nodes stay)."""
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        yield
    finally:
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in reversed([n for n in added if n.GetID() not in before]):
            if scene.IsNodePresent(node):
                scene.RemoveNode(node)
