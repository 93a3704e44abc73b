package transport

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestPooledDecodersKeepNoLargeScratch decodes a long string, which
// msgpack's decoder reads through its scratch buffer: the decoder must not
// go back to the pool holding a copy of those bytes, which would then stay
// alive (and keep the string's contents in memory) for as long as the
// pool keeps circulating the decoder.
func TestPooledDecodersKeepNoLargeScratch(t *testing.T) { // not parallel: it inspects the pool
	long := strings.Repeat("secret", 200_000)
	data, err := msgpack.Marshal(long)
	require.NoError(t, err)
	var got string
	require.NoError(t, unmarshal(data, &got))
	require.Equal(t, long, got)
	var held []*pooledDecoder
	defer func() {
		for _, d := range held {
			pooledDecoders.Put(d)
		}
	}()
	for range 8 { // the decoder put back, if any, is among the first
		d := pooledDecoders.Get().(*pooledDecoder)
		held = append(held, d)
		scratch := reflect.ValueOf(d.dec).Elem().FieldByName("buf").Cap()
		require.LessOrEqual(t, scratch, pooledMax, "a pooled decoder holds %d bytes of scratch", scratch)
	}
}
