#!/usr/bin/env bash
# Proves a running local cluster (tools/local-cluster/cluster.sh start) behaves as the deploy
# tests expect: a Deployment of 2 replicas becomes Available, a Job completes, and a Job whose pod
# is labelled mbhealth.test/fail=true fails. Works in a namespace of its own, deleted afterwards.
# Exit 0 when all three hold. Usage: tools/local-cluster/smoke.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/cluster.sh" env)"
"$here/cluster.sh" status >/dev/null || { echo "smoke: the cluster is not running: run $here/cluster.sh start" >&2; exit 1; }

ns=mbh-smoke-$$
t0=$SECONDS
KUBECACHEDIR=$(mktemp -d)   # kubectl's discovery cache: not in ~/.kube
export KUBECACHEDIR
cleanup() { kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; rm -rf "$KUBECACHEDIR"; }
trap cleanup EXIT
kubectl create namespace "$ns" >/dev/null
# A new namespace gets its default ServiceAccount from kube-controller-manager shortly after.
for _ in $(seq 60); do kubectl -n "$ns" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done

kubectl -n "$ns" apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example.invalid/web:1
---
apiVersion: batch/v1
kind: Job
metadata:
  name: job-ok
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: example.invalid/job:1
---
apiVersion: batch/v1
kind: Job
metadata:
  name: job-fail
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        mbhealth.test/fail: "true"
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: example.invalid/job:1
EOF

kubectl -n "$ns" wait deployment/web --for=condition=Available --timeout=90s
kubectl -n "$ns" wait job/job-ok --for=condition=Complete --timeout=90s
kubectl -n "$ns" wait job/job-fail --for=condition=Failed --timeout=90s
kubectl -n "$ns" get deployment,job,pod -o wide
echo "smoke: Deployment Available, job-ok Complete, job-fail Failed in $((SECONDS - t0))s"
