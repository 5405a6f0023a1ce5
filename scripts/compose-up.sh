#!/usr/bin/env bash
# Builds the project images into the local Docker engine under the names `signal-pipeline k8s images` gives them,
# then starts deploy/compose with docker compose and waits until every service is healthy. See docs/compose.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/compose-up.sh [--registry REGISTRY] [--tag TAG] [--arch ARCH] [--generator] [--no-build] [--dry-run]

  --registry   registry part of the image names (default: REGISTRY in deploy/compose/.env); nothing is pushed
  --tag        image tag (default: TAG in deploy/compose/.env)
  --arch       image architecture for dotnet publish (default: x64; arm64 on ARM machines)
  --generator  also start signal-generator (compose profile "generator")
  --no-build   use the images already in the engine
  --dry-run    print every command instead of running it (only the read-only image listing runs)

Stop with: docker compose --project-directory deploy/compose down   (add -v to drop Kafka's data volume)
Environment: SIGNAL_PIPELINE_CLI overrides how the CLI is started (default: dotnet run --project SignalPipeline.Cli --).
USAGE
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
compose_dir="deploy/compose"

# The defaults are the committed .env's, so the names match the compose file without options.
env_value() { sed -n "s/^$1=//p" "$compose_dir/.env" | tail -n 1; }
registry="$(env_value REGISTRY)"
tag="$(env_value TAG)"
arch="x64"
profile=()
build=true
dry_run=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --registry) registry="${2:?--registry needs a value}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --arch) arch="${2:?--arch needs a value}"; shift 2 ;;
    --generator) profile=(--profile generator); shift ;;
    --no-build) build=false; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

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

compose=(docker compose)
wait_flag=(--wait) # compose v2 waits for the healthchecks; v1 only orders the start by them
if [[ "$dry_run" == false ]]; then
  for tool in dotnet docker; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not on PATH" >&2; exit 1; }
  done
  docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers (docker info failed)" >&2; exit 1; }
  if ! docker compose version >/dev/null 2>&1; then
    command -v docker-compose >/dev/null || { echo "error: neither 'docker compose' nor docker-compose is installed" >&2; exit 1; }
    compose=(docker-compose)
    wait_flag=()
  fi
fi

# 1. Images: published into the local engine (no ContainerRegistry), then tagged with the compose file's full names.
if [[ "$build" == true ]]; then
  images="$("${cli[@]}" k8s images --manifest aspire-manifest.json --registry "$registry" --tag "$tag")"
  while IFS=$'\t' read -r image _ container_repository image_tag project; do
    [[ -n "$image" ]] || continue
    echo "# image $image"
    run dotnet publish "$project" -c Release --os linux --arch "$arch" -t:PublishContainer \
      "-p:ContainerRepository=$container_repository" \
      "-p:ContainerImageTag=$image_tag"
    run docker tag "$container_repository:$image_tag" "$image"
  done <<< "$images"
fi

# 2. Up, in dependency order (Kafka healthy, topics created, then the services), waiting for every healthcheck.
#    REGISTRY and TAG from the command line win over .env (compose reads the shell's environment first).
export REGISTRY="$registry" TAG="$tag"
run "${compose[@]}" --project-directory "$compose_dir" -f "$compose_dir/docker-compose.yaml" "${profile[@]}" up -d "${wait_flag[@]}"
run "${compose[@]}" --project-directory "$compose_dir" -f "$compose_dir/docker-compose.yaml" "${profile[@]}" ps
