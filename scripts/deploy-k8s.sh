#!/usr/bin/env bash
# Builds and pushes the project images, then deploys the pipeline to the current kubectl context
# (namespace signal-processing) and waits for it to roll out. See docs/kubernetes.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/deploy-k8s.sh --registry REGISTRY [--tag TAG] [--arch ARCH] [--overlay ha|keda|ingress] [--dry-run]

  --registry  registry (and optional path) to push the images to, e.g. ghcr.io/me or localhost:5001
  --tag       image tag (default: latest)
  --arch      image architecture for dotnet publish (default: x64; arm64 for ARM nodes)
  --overlay   apply deploy/k8s/overlays/NAME instead of deploy/k8s (ha: three Kafka brokers; keda: scale on consumer lag)
  --dry-run   print every command instead of running it (only the read-only image listing runs)

Secret parameters: put their values in deploy/k8s/<resource>/<resource>.secrets.env (git-ignored),
from the .example file next to it.
Environment: SIGNAL_PIPELINE_CLI overrides how the CLI is started (default: dotnet run --project SignalPipeline.Cli --).
USAGE
}

registry=""
tag="latest"
arch="x64"
overlay=""
dry_run=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --registry) registry="${2:?--registry needs a value}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --arch) arch="${2:?--arch needs a value}"; shift 2 ;;
    --overlay) overlay="${2:?--overlay needs a value}"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ -z "$registry" ]]; then
  echo "error: --registry is required" >&2
  usage >&2
  exit 2
fi

if [[ -n "$overlay" && "$overlay" != "ha" && "$overlay" != "keda" && "$overlay" != "ingress" ]]; then
  echo "error: --overlay must be ha, keda or ingress, not '$overlay'" >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

namespace="signal-processing"
manifest="aspire-manifest.json"
read -r -a cli <<< "${SIGNAL_PIPELINE_CLI:-dotnet run --project SignalPipeline.Cli --}"

# Prints a command (shell-quoted) and runs it unless --dry-run.
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [[ "$dry_run" == false ]]; then
    "$@"
  fi
}

if [[ "$dry_run" == false ]]; then
  for tool in dotnet kubectl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not on PATH" >&2; exit 1; }
  done
fi

# 1. Images: one per project (filter-kalman, filter-rls and filter-ls share the FilterService image).
#    The listing comes from the same generator as the manifests, so names always match.
images="$("${cli[@]}" k8s images --manifest "$manifest" --registry "$registry" --tag "$tag")"
while IFS=$'\t' read -r image container_registry container_repository image_tag project; do
  [[ -n "$image" ]] || continue
  echo "# image $image"
  run dotnet publish "$project" -c Release --os linux --arch "$arch" -t:PublishContainer \
    "-p:ContainerRegistry=$container_registry" \
    "-p:ContainerRepository=$container_repository" \
    "-p:ContainerImageTag=$image_tag"
done <<< "$images"

# 2. The manifests for this registry and tag, generated into a temporary copy (deploy/k8s stays as committed).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run "${cli[@]}" k8s generate --manifest "$manifest" --output "$work/k8s" --registry "$registry" --tag "$tag"

# Secret values stay out of git: copy the user's *.secrets.env files next to the generated secretGenerators.
while IFS= read -r -d '' secrets; do
  run cp "$secrets" "$work/k8s/${secrets#deploy/k8s/}"
done < <(find deploy/k8s -name '*.secrets.env' -print0)

if [[ "$dry_run" == false ]]; then
  while IFS= read -r -d '' example; do
    if [[ ! -f "${example%.example}" ]]; then
      echo "error: ${example#"$work/k8s/"} needs its values: copy it to deploy/k8s/${example#"$work/k8s/"} without .example and fill it in" >&2
      exit 1
    fi
  done < <(find "$work/k8s" -name '*.secrets.env.example' -print0)
fi

target="$work/k8s"
if [[ -n "$overlay" ]]; then
  target="$work/k8s/overlays/$overlay"
fi

# 3. The namespace, then the dashboard's OTLP API key (docs/kubernetes.md): a random one the first time, kept afterwards,
#    never in the repository. Before any workload: a project pod that starts without the Secret (its key is optional)
#    sends an unresolved key for its whole life and the dashboard refuses its telemetry. The key goes through a file in
#    the private temporary folder, so neither this script's output nor the process list shows it.
run kubectl apply --server-side -f "$work/k8s/namespace/namespace.yaml"
if [[ "$dry_run" == true ]] || ! kubectl get secret aspire-dashboard-otlp -n "$namespace" >/dev/null 2>&1; then
  api_key="$work/aspire-dashboard-otlp.api-key"
  if [[ "$dry_run" == false ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$api_key")
  fi
  run kubectl create secret generic aspire-dashboard-otlp -n "$namespace" --from-file=api-key="$api_key"
fi

# 4. Apply and wait: Kafka first (the services wait for it), then the topics, then every Deployment.
if [[ "$overlay" == "keda" ]]; then
  # The overlay leaves the CPU HPA out, but apply does not prune: one from an earlier deploy would fight KEDA's HPA, and
  # KEDA's admission webhook refuses a ScaledObject for a Deployment that another HPA scales. KEDA's own HPA is
  # keda-hpa-filter-kafka-processor, so this name is only ever the CPU one.
  run kubectl delete hpa filter-kafka-processor -n "$namespace" --ignore-not-found
fi
run kubectl apply --server-side -k "$target"
run kubectl rollout status statefulset -n "$namespace" -l app.kubernetes.io/part-of=signal-pipeline --timeout=10m
run kubectl wait job/kafka-topics -n "$namespace" --for=condition=complete --timeout=10m
run kubectl rollout status deployment -n "$namespace" -l app.kubernetes.io/part-of=signal-pipeline --timeout=10m
run kubectl get pods -n "$namespace"
run kubectl get hpa -n "$namespace"
