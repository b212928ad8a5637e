"""The cluster's CA and identities, each a client (or serving) certificate signed by it, made with
openssl (ECDSA P-256 keys: a first start makes a dozen in well under a second).

- kubelet (client): `system:node:<node>` in `system:nodes`: the Node authorizer and the
  NodeRestriction admission plugin give it exactly a node's rights, never the admin's;
- kubelet (serving): the node's name and IP, so the API server and metrics-server verify it;
- the API server's client for the kubelet: `kube-apiserver-kubelet-client` in `system:masters`
  (what kubeadm gives it); the kubelet refuses anonymous requests and any other certificate;
- kube-proxy: `system:kube-proxy` (bound by Kubernetes' own `system:node-proxier` role);
- kube-router and the ingress controller: users of their own, bound to the roles addons.py makes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from daemons import run

DAYS = 365


def ensure_ca(ca_dir: Path) -> Path:
    """The cluster CA (`ca.crt`, `ca.key`), made once."""
    if not (ca_dir / "ca.crt").is_file():
        ca_dir.mkdir(parents=True, exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "3650", "-sha256",
             "-subj", "/CN=mbhealth-local-ca", "-keyout", str(ca_dir / "ca.key"), "-out", str(ca_dir / "ca.crt"),
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        (ca_dir / "ca.key").chmod(0o600)
    return ca_dir / "ca.crt"


def sign(pki: Path, ca_dir: Path, name: str, cn: str, orgs: tuple[str, ...] = (), *, usage: str = "clientAuth",
         sans: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """`<pki>/<name>.crt` and `.key`, signed by `<ca_dir>/ca.crt`/`ca.key`; kept while they exist."""
    pki.mkdir(parents=True, exist_ok=True)
    crt, key = pki / f"{name}.crt", pki / f"{name}.key"
    if crt.is_file() and key.is_file():
        return crt, key
    subject = "".join(f"/O={org}" for org in orgs) + f"/CN={cn}"
    csr = pki / f"{name}.csr"
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(csr),
         "-subj", subject])
    ext = pki / f"{name}.ext"
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             f"extendedKeyUsage={usage}"]
    if sans:
        lines.append("subjectAltName=" + ",".join(f"IP:{s}" if s[0].isdigit() else f"DNS:{s}" for s in sans))
    ext.write_text("\n".join(lines) + "\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
         "-CAcreateserial", "-CAserial", str(pki / "ca.srl"), "-days", str(DAYS), "-sha256", "-extfile", str(ext),
         "-out", str(crt)])
    csr.unlink()
    ext.unlink()
    key.chmod(0o600)
    return crt, key


def kubeconfig(path: Path, server: str, ca: Path, crt: Path, key: Path, user: str) -> Path:
    """A kubeconfig with one context and the certificates embedded (JSON is YAML)."""
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": user,
        "clusters": [{"name": "mbhealth-local", "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(crt), "client-key-data": b64(key)}}],
        "contexts": [{"name": user, "context": {"cluster": "mbhealth-local", "user": user}}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
