#!/usr/bin/env bash
# Builds Release and runs `signal-pipeline bench` (end-to-end pipeline and HTTP figures into docs/benchmarks.md).
# Arguments go to the bench: --quick, --scenario local|records|remote|scaled|http|bridge|state|abuse|mixed, --case TEXT, --brokers HOST:PORT, --repeats N, --no-write,
# --output FILE, --processor-env KEY=VALUE (processor settings to compare, e.g. Processor__MaxBatchBytes=2097152).
# A --quick run (a smoke check) leaves docs/benchmarks.md alone (--output FILE writes its tables); `bench --help` says what each option does.
# The filter-kernel and codec micro-benchmarks are BenchmarkDotNet: see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release SignalPipeline.sln -nologo -v q
exec dotnet SignalPipeline.Cli/bin/Release/net10.0/signal-pipeline.dll bench "$@"
