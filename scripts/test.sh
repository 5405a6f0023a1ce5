#!/usr/bin/env bash
# Runs the tests. Extra arguments go to `dotnet test` (e.g. --logger; --filter when not --fast).
#   scripts/test.sh          every test of the solution: unit, Integration, AppHost and the browser test (what CI runs).
#                            Installs, when missing, the third-party tools the tests drive: kcat (Kafka interop test),
#                            chromium (browser test), kubectl (Kubernetes render test), shellcheck (deploy script lint),
#                            docker-compose (Compose file validation).
#   scripts/test.sh --fast   the unit tests alone: SignalPipeline.Tests without the traits Category=AppHost (starts the
#                            AppHost) and Category=Integration (a broker or another program); no tools needed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fast" ]; then
  shift
  exec dotnet test SignalPipeline.Tests --filter "Category!=AppHost&Category!=Integration" "$@"
fi

missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# kubectl: the package of that name where an apt source has it (Google's or Kubernetes' own), else Debian's
# kubernetes-client (an older kubectl: its kustomize may not render every overlay; PLATFORM.md has 1.32 with kustomize 5.5).
if ! command -v kubectl >/dev/null 2>&1; then
  if apt-cache show kubectl >/dev/null 2>&1; then missing+=(kubectl); else missing+=(kubernetes-client); fi
fi
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ((${#missing[@]})); then
  echo "Installing test prerequisites: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

exec dotnet test SignalPipeline.sln "$@"
