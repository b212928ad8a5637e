"""Who wins a workload field another field manager took: the stack file, on the next `up` that
changes that object.

`kubectl scale`, `kubectl set image|env` and `kubectl rollout undo` on a bad day take a field of a
Deployment or StatefulSet from Pulumi's field manager (server-side apply). Without a force, the next
`up` that changes the object fails with a field-manager conflict ("Server-Side Apply field conflict")
until someone edits the live object back by hand; with `pulumi.com/patchForce` the declared value
wins, as Helm's upgrade and Argo CD's sync do. A no-change `up` patches nothing, so a change made by
hand lasts until the next change of that object. A count an HPA owns is never declared (workload.py
leaves `replicas` unset when autoscaling is on), so the force never fights the autoscaler.
"""

from __future__ import annotations

PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"


def declared_wins() -> dict[str, str]:
    """The annotations of a workload object whose declared fields win over another manager's."""
    return {PATCH_FORCE_ANNOTATION: "true"}
