"""The mock Pulumi engine synth runs the program under: it records every registration and answers with
deterministic outputs, standing in (and saying so in its notes) for what only a real deploy knows.

- a docker.Image's `repoDigest` is a STAND-IN: sha256 of exactly what pulumi-docker compares to decide a
  rebuild (scripts/rebuild_digest.py), so it changes whenever `pulumi up` would rebuild;
- another stack's outputs (a StackReference, for `images.source: stack`) are fake but well-formed digests
  unless given;
- the cluster (the provider's `kubernetes:helm:template` invoke of charts/cluster-version) is Kubernetes
  STAND_IN_KUBERNETES serving STAND_IN_CLUSTER_APIS;
- auto-named Kubernetes objects get a suffix from their content; `random:` resources a fixed result.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Mapping, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from components.config import PROJECT
from scripts.rebuild_digest import json_digest, mode_drift, rebuild_digest
from scripts.secret_markers import reveal
from scripts.synth_result import Registered

STAND_IN_REGISTRY = "synth-stand-in.invalid"
# The cluster synth answers for (components/cluster.py asks the provider): its version and add-ons.
STAND_IN_KUBERNETES = "v1.31.0"
STAND_IN_CLUSTER_APIS = ("metricsApi", "certManager")
DIGEST_NOTE = ("image digests are stand-ins: sha256 of every input pulumi-docker compares (image name, build "
               "settings, registry server) and of its context digest (Dockerfile, context after .dockerignore: path, "
               "mode as checked out, content); they change whenever `pulumi up` would rebuild, "
               "but they are not registry digests")


# What the program logs to the engine (pulumi.log): synth reports the config warnings itself.
ENGINE_LOG = logging.getLogger("mbhealth.synth.engine")
ENGINE_LOG.addHandler(logging.NullHandler())
ENGINE_LOG.propagate = False


def stand_in_stack_outputs(stack: str) -> dict[str, Any]:
    """What synth answers for another stack's outputs: each image by a fake (but well-formed) digest."""
    from components.build_specs import IMAGE_BUILDS

    return {"images": {name: f"{STAND_IN_REGISTRY}/{PROJECT}/{name}@sha256:{json_digest(['stand-in', stack, name])}"
                       for name in IMAGE_BUILDS}}


class SynthMocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 kubernetes_version: Optional[str] = STAND_IN_KUBERNETES,
                 cluster_apis: Iterable[str] = STAND_IN_CLUSTER_APIS):
        # Outputs of other stacks, by stack name, for StackReferences (promotion).
        self.stack_outputs = dict(stack_outputs or {})
        # The cluster's version (None: the cluster cannot be reached) and the add-on APIs it serves.
        self.kubernetes_version = kubernetes_version
        self.cluster_apis = frozenset(cluster_apis)
        self.notes: list[str] = []  # what this synth stood in for

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            if name in self.stack_outputs:
                outputs = dict(self.stack_outputs[name])
            else:
                # No state backend offline: stand in for the other stack's `images`, and say so.
                outputs = stand_in_stack_outputs(name)
                self.note(f"images.source is stack: stack {name!r} cannot be read offline; its `images` output is a "
                          f"STAND-IN (fake digests, {STAND_IN_REGISTRY}), re-homed to this stack's registry")
            state.update(outputs=outputs, secretOutputNames=[])
        elif args.typ == "docker:index/image:Image":
            repository = str(reveal(args.inputs["imageName"])).rsplit(":", 1)[0]
            inputs = reveal(args.inputs)
            state["repoDigest"] = f"{repository}@sha256:{rebuild_digest(inputs)}"
            state["baseImageName"] = reveal(args.inputs["imageName"])
            self.note(DIGEST_NOTE)
            drift = mode_drift(inputs.get("build") or {})
            if drift:
                self.note(f"image {args.name}: {len(drift)} build context file(s) have a mode a checkout under umask 022 "
                          f"does not give ({', '.join(drift[:3])}{', ...' if len(drift) > 3 else ''}): pulumi-docker "
                          "hashes each file's full mode, so `pulumi up` from this tree rebuilds it where the stand-in "
                          "digest shows no change (`chmod go-w` them, or check out under umask 022)")
        elif args.typ.startswith("random:"):
            state["result"] = "synth" + json_digest([args.typ, args.name], 27)
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            if not metadata.get("name"):
                # Auto-naming: a suffix from the content, so a data change is a new name
                # (as a replacement is in a real deploy) and an unchanged one is stable.
                # Secrets too: pulumi-kubernetes 4.25 replaces a Secret whose data changes
                # (no enableSecretMutable), so a new value means a new name. Synth only ever
                # holds stand-in secrets; the suffix is 8 hex digits of a sha256.
                content = {k: v for k, v in reveal(state).items() if k != "metadata"}
                metadata["name"] = f"{args.name}-{json_digest(content, 8)}"
            state["metadata"] = metadata
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "kubernetes:helm:template":
            opts = json.loads(args.args["jsonOpts"])
            if opts.get("chart") == "cluster-version":
                # No cluster offline: Helm's offline defaults when "unreachable", else the stand-in version.
                reachable = self.kubernetes_version is not None
                if reachable and self.kubernetes_version == STAND_IN_KUBERNETES:
                    self.note(f"the cluster is a stand-in (Kubernetes {STAND_IN_KUBERNETES}, metrics API and "
                              "cert-manager served); pulumi up reads the real one and refuses a cluster older than 1.30 "
                              "or without an add-on the stack uses")
                data = {"gitVersion": self.kubernetes_version or "v1.20.0", "discovered": str(reachable).lower(),
                        **{api: str(reachable and api in self.cluster_apis).lower() for api in STAND_IN_CLUSTER_APIS}}
                return {"result": [{"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "cluster-version"}, "data": data}]}
        return {}

class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine, also keeping each registration's parent and dependencies."""

    def __init__(self, mocks: SynthMocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    custom=bool(request.custom),
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties(request.object),
                    outputs=self.resources[response.urn].state,
                )
            )
        return response

    def ReadResource(self, request):
        """Reads of existing resources (StackReferences) are recorded too."""
        response = super().ReadResource(request)
        self.registered.append(
            Registered(
                type=request.type, name=request.name, urn=response.urn, custom=True, parent=request.parent,
                dependencies=list(request.dependencies), inputs=rpc.deserialize_properties(request.properties),
                outputs=self.resources[response.urn].state,
            )
        )
        return response

