"""The node's container runtime: Debian's containerd (CRI plugin) and runc, its CNI network, and
the images it runs that no registry serves.

containerd runs in the node's network namespace with a socket, root, state and config of its
own, so it never meets the containerd of a Docker engine on the same machine:
- cgroupfs (the kubelet's driver), overlayfs, seccomp RuntimeDefault from runc's build;
- `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE, and without it every pod sandbox
  fails with "can't get final child's PID from pipe: EOF";
- pod network namespaces under its state folder (removed with it);
- registries: `localhost:<port>` and `127.0.0.1:<port>` over plain HTTP; what answers there inside
  the node's namespace is a read-only view of the project's registry storage (registry.py).
CNI: the bridge plugin (no IP masquerade) with host-local addresses from the node's pod CIDR.
Images of the node itself (the pod sandbox, add-ons) are static programs laid out as OCI images
here and imported; they are never pulled.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import daemons
from daemons import NodeError, run
from layout import IMAGE_CACHE, LOCAL_IMAGE_PREFIX, Layout

PAUSE_VERSION = "3.10"


def pause_image() -> str:
    return f"{LOCAL_IMAGE_PREFIX}/pause:{PAUSE_VERSION}"


def containerd_config(layout: Layout, registries: list[str], runc: str) -> Path:
    root, run_dir = layout.dir("containerd"), layout.run
    certs = root / "certs.d"
    for address in registries:
        port = address.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            (certs / host).mkdir(parents=True, exist_ok=True)
            (certs / host / "hosts.toml").write_text(
                f'server = "http://{host}"\n\n[host."http://{host}"]\n  capabilities = ["pull", "resolve"]\n')
    if registries:
        # Docker Hub's images (the dev stack's data services) come from the first registry, as from a
        # mirror: the project's holds stand-ins for them (tools/standins/data_services.py).
        port = registries[0].rsplit(":", 1)[1]
        (certs / "docker.io").mkdir(parents=True, exist_ok=True)
        (certs / "docker.io" / "hosts.toml").write_text(
            f'server = "https://registry-1.docker.io"\n\n[host."http://127.0.0.1:{port}"]\n'
            '  capabilities = ["pull", "resolve"]\n')
    config = root / "config.toml"
    config.write_text(f"""\
# The mbhealth local node's containerd (tools/local-cluster/node/runtime.py); nothing here is shared.
version = 2
root = "{root / 'root'}"
state = "{run_dir / 'containerd'}"

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{root / 'opt'}"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause_image()}"
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_unprivileged_ports = false
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "{runc}"
          Root = "{run_dir / 'runc'}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{layout.dir('cni')}"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "{certs}"
""")
    return config


def cni_config(layout: Layout) -> Path:
    conf = {
        "cniVersion": "1.0.0",
        "name": "mbhealth",
        "plugins": [{
            "type": "bridge", "bridge": layout.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": str(layout.pod_cidr)}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(layout.dir("cni-ipam"))},
        }],
    }
    path = layout.dir("cni") / "10-mbhealth.conflist"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(conf, indent=2) + "\n")
    return path


def ctr(layout: Layout, *args: str, input_file: Path | None = None, timeout: float = 300) -> str:
    argv = ["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io", *args]
    if input_file is None:
        return run(argv, timeout=timeout).stdout
    with open(input_file, "rb") as handle:
        proc = subprocess.run(argv, stdin=handle, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise NodeError(f"`ctr images import` of {input_file} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def start_containerd(layout: Layout, registries: list[str]) -> None:
    runc = shutil.which("runc")
    if not runc:
        raise NodeError("runc is missing: run tools/machine/system-deps.sh node")
    config = containerd_config(layout, registries, runc)
    cni_config(layout)
    layout.run.mkdir(parents=True, exist_ok=True)
    daemons.start(layout, "containerd", ["containerd", "--config", str(config)])
    daemons.wait_for("containerd did not answer on its socket",
                     lambda: run(["ctr", "--address", str(layout.containerd_socket), "version"],
                                 check=False, timeout=10).returncode == 0,
                     30, layout.logs / "containerd.log")


def images(layout: Layout) -> set[str]:
    out = ctr(layout, "images", "list", "--quiet")
    return {line.strip() for line in out.splitlines() if line.strip()}


def import_archive(layout: Layout, archive: Path) -> None:
    ctr(layout, "images", "import", "--snapshotter", "overlayfs", "-", input_file=archive)


# --- static programs as OCI images ------------------------------------------------------------
def _tar_member(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, 0, 0, 0
    tar.addfile(info, io.BytesIO(data))


def _blob(tar: tarfile.TarFile, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    _tar_member(tar, f"blobs/sha256/{digest}", data, 0o644)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_archive(dest: Path, ref: str, files: dict[str, Path], entrypoint: list[str], user: str) -> Path:
    """An OCI image layout tarball of one layer holding `files` ({path in image: file here}),
    written only when it does not exist (its name carries a digest of its inputs)."""
    if dest.is_file():
        return dest
    layer_raw = io.BytesIO()
    with tarfile.open(fileobj=layer_raw, mode="w") as layer:
        for target, source in sorted(files.items()):
            _tar_member(layer, target.lstrip("/"), source.read_bytes(), 0o755)
    diff_id = "sha256:" + hashlib.sha256(layer_raw.getvalue()).hexdigest()
    layer_gz = gzip.compress(layer_raw.getvalue(), mtime=0)
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": entrypoint, "User": user, "Env": ["PATH=/"]},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created_by": "tools/local-cluster/node/runtime.py", "comment": "static program"}]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(tmp, mode="w") as tar:
        layer_desc = _blob(tar, layer_gz)
        config_desc = _blob(tar, json.dumps(config, sort_keys=True).encode())
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}]}
        manifest_desc = _blob(tar, json.dumps(manifest, sort_keys=True).encode())
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
            "annotations": {"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref}}]}
        _tar_member(tar, "index.json", json.dumps(index).encode(), 0o644)
        _tar_member(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}', 0o644)
    tmp.rename(dest)
    return dest


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def ensure_static_image(layout: Layout, ref: str, binary: Path, entrypoint: list[str], user: str = "65532:65532",
                        extra: dict[str, Path] | None = None, have: set[str] | None = None) -> str:
    """`ref` in the node's containerd, from a static binary (imported once per node)."""
    have = images(layout) if have is None else have
    if ref in have:
        return ref
    files = {entrypoint[0]: binary, **(extra or {})}
    key = hashlib.sha256(json.dumps([ref, entrypoint, user, {k: file_digest(v) for k, v in files.items()}])
                         .encode()).hexdigest()[:16]
    archive = oci_archive(layout.root / IMAGE_CACHE / f"{ref.replace('/', '_').replace(':', '_')}-{key}.tar",
                          ref, files, entrypoint, user)
    started = time.monotonic()
    import_archive(layout, archive)
    daemons.say(f"image {ref} imported ({time.monotonic() - started:.1f}s)")
    return ref
