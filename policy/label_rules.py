"""The standard-labels rule: every object, and every workload's pod template, carries components/labels.py's labels."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from components.labels import REQUIRED_LABELS
from policy.objects import POD_TEMPLATE_LABEL_PATHS, describe, get_path, is_map
from policy.stack_context import StackContext
from policy.violation import Violation


LABELS_FIX = (
    "label it with components/labels.py standard_labels(name, component, version, stack) "
    "(" + ", ".join(REQUIRED_LABELS) + ")"
)


def check_standard_labels(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Every object (and every workload's pod template) carries the standard labels."""
    where = describe(obj, kind, name)
    found = []
    places = [("metadata.labels", ("metadata", "labels"))]
    if kind in POD_TEMPLATE_LABEL_PATHS:
        path = POD_TEMPLATE_LABEL_PATHS[kind]
        places.append((".".join(path), path))
    for label, path in places:
        labels = get_path(obj, *path)
        labels = labels if is_map(labels) else {}
        missing = [key for key in REQUIRED_LABELS if key not in labels]
        if missing:
            found.append(Violation("standard-labels", where, f"{label} lacks {', '.join(missing)}", LABELS_FIX))
    return found
