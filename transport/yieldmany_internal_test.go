package transport

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkEncodeItems encodes a run of 64 16-byte items into one Batch,
// given as Go values (msgpack's reflection) and as raw items (the typed
// codecs' path).
func BenchmarkEncodeItems(b *testing.B) {
	const n = 64
	vals := make([][]byte, n)
	raws := make([]msgpack.RawMessage, n)
	byValue, byRaw := make([]any, n), make([]any, n)
	for i := range n {
		vals[i] = make([]byte, 16)
		raws[i], _ = msgpack.Marshal(vals[i])
		byValue[i], byRaw[i] = &vals[i], &raws[i]
	}
	for _, bc := range []struct {
		name  string
		items []any
	}{{"value", byValue}, {"raw", byRaw}} {
		b.Run(bc.name, func(b *testing.B) {
			var fe frameEncoder
			b.ReportAllocs()
			for b.Loop() {
				if _, _, k, err := fe.encodeItems(1, bc.items, maxBatchItems, maxBatchBytes); err != nil || k != n {
					b.Fatal(k, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
	}
}
