"""SimShift performance harness: throughput, memory and scaling; results in benchmarks/results/, tables in BENCHMARKS.md."""
