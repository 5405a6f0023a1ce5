#!/usr/bin/env bash
# Regenerates aspire-manifest.json (committed) with the AppHost's manifest publisher.
# Publish mode always describes a Kafka container, whatever this machine has (docs/kafka.md).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project SignalPipeline.AppHost "$@" -- --publisher manifest --output-path ../aspire-manifest.json
