#!/usr/bin/env bash
# Renders every overlay with kustomize and validates the output offline,
# strictly (a misspelt field fails), against the Kubernetes version below.
# Then proves the check bites: a rendered manifest with one field misspelt
# must fail it. Custom resources (the CloudNativePG Cluster) have no schema
# here; their operator validates them when they are applied (the
# monitoring component's rules are checked by its own check.py).
#
# Then lints the prod overlay as a release renders it (the image pinned by
# digest, as the release step sets it) with checkov's Kubernetes policies,
# offline: any failed check fails, and a suppression is an annotation with
# its reason beside the resource. And proves that linter bites: the
# overlay before the release step (a tag, no digest) must fail it.
#
#   deploy/k8s/validate.sh [KUBERNETES_VALIDATE [CHECKOV]]   (make lint runs it)
set -euo pipefail
cd "$(dirname "$0")"
KUBERNETES_VERSION=1.30.0
VALIDATE=${1:-kubernetes-validate}
CHECKOV=${2:-checkov}
OUT=../../target/k8s
mkdir -p "$OUT"

render() {
  if command -v kubectl >/dev/null; then
    kubectl kustomize "$1"
  elif command -v kustomize >/dev/null; then
    kustomize build "$1"
  else
    echo "neither kubectl nor kustomize is installed: cannot render $1" >&2
    return 1
  fi
}

validate() {
  # kubernetes-validate prints a WARN line (and passes) for kinds it has no
  # schema for; only the CloudNativePG Cluster may be one of those.
  local report
  report=$("$VALIDATE" --strict --quiet -k "$KUBERNETES_VERSION" "$1" 2>&1) || { echo "$report" >&2; return 1; }
  if grep -v -e "Couldn't find schema for kind Cluster with api version postgresql.cnpg.io/v1" \
      -e "Couldn't find schema for kind \(PodMonitor\|PrometheusRule\) with api version monitoring.coreos.com/v1" \
      <<<"$report" | grep -q .; then
    echo "$report" >&2
    return 1
  fi
}

for overlay in overlays/*/; do
  name=$(basename "$overlay")
  render "$overlay" >"$OUT/$name.yaml"
  validate "$OUT/$name.yaml"
  echo "k8s: overlays/$name renders and validates against Kubernetes $KUBERNETES_VERSION ($(grep -c '^kind:' "$OUT/$name.yaml") objects)"
done

# The optional monitoring component, as an overlay adds it to prod.
monitored="$OUT/prod-monitored"
mkdir -p "$monitored"
here=$(realpath --relative-to="$monitored" .)
cat >"$monitored/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $here/overlays/prod
components:
  - $here/components/monitoring
YAML
render "$monitored" >"$OUT/prod-monitored.yaml"
validate "$OUT/prod-monitored.yaml"
for kind in PodMonitor PrometheusRule; do
  grep -q "^kind: $kind" "$OUT/prod-monitored.yaml" || { echo "k8s: the monitoring component rendered no $kind" >&2; exit 1; }
done
echo "k8s: prod with components/monitoring renders and validates ($(grep -c '^kind:' "$OUT/prod-monitored.yaml") objects)"

# The check itself: one misspelt field in a Deployment must be refused.
sed '0,/readinessProbe:/s//readinesProbe:/' "$OUT/prod.yaml" >"$OUT/misspelt.yaml"
if cmp -s "$OUT/prod.yaml" "$OUT/misspelt.yaml"; then
  echo "k8s: the self-test found no readinessProbe to misspell" >&2
  exit 1
fi
if validate "$OUT/misspelt.yaml" 2>/dev/null; then
  echo "k8s: a manifest with a misspelt field passed validation; the check is broken" >&2
  exit 1
fi
echo "k8s: a misspelt field (readinesProbe) is refused"

# The release step (README, "Deploy") pins the image by digest; here with a
# stand-in digest, as `kustomize edit set image` would write it.
released="$OUT/prod-released"
mkdir -p "$released"
here=$(realpath --relative-to="$released" .)
cat >"$released/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $here/overlays/prod
images:
  - name: ghcr.io/bss-suite/bss
    digest: sha256:$(printf '0%.0s' {1..64})
YAML
render "$released" >"$OUT/prod-released.yaml"
grep -q "image: ghcr.io/bss-suite/bss@sha256:" "$OUT/prod-released.yaml" || {
  echo "k8s: the released render pins no image by digest" >&2; exit 1; }
lint() {
  "$CHECKOV" -f "$1" --framework kubernetes --compact --quiet --skip-download -o cli 2>&1
}
if ! report=$(lint "$OUT/prod-released.yaml"); then
  echo "$report" >&2
  echo "k8s: the policy linter (checkov) failed the released prod overlay" >&2
  exit 1
fi
echo "k8s: policy linter (checkov): $(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' <<<"$report")"
unreleased=$(lint "$OUT/prod.yaml" || true)
if ! grep -q "CKV_K8S_43" <<<"$unreleased"; then
  echo "k8s: an image without a digest passed the policy linter (CKV_K8S_43); the check is broken" >&2
  exit 1
fi
echo "k8s: an image without a digest is refused by the policy linter"
