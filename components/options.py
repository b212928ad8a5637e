"""Resource options shared by the components."""

from __future__ import annotations

from typing import Optional

import pulumi


def child_options(parent: pulumi.Resource, opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    """Options for a component's children: parented to it and waiting on what it waits on.

    A component's `depends_on` is not inherited by its children, so a Deployment
    inside a Workload that depends on the migration Job would otherwise start at
    the same time as the Job.
    """
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None)
