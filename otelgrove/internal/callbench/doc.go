// Package callbench measures what otelgrove costs: its benchmarks
// (bench_test.go) run a unary call, a stream and a pool Submit, each
// traced, in a test binary of their own, since otelgrove's instrumentation
// is process-wide. Compare them with the untraced figures of actor's
// BenchmarkCall/grove and BenchmarkStream and pool's
// BenchmarkSubmit/submit, run in the same session.
package callbench
