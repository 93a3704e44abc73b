package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// stallingReader reads from r but fails with a deadline error once at
// each offset in stops, as a read interrupted by a waiting goroutine's
// ctx does.
type stallingReader struct {
	r     io.Reader
	off   int
	stops []int
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if len(s.stops) > 0 {
		if s.off == s.stops[0] {
			s.stops = s.stops[1:]
			return 0, os.ErrDeadlineExceeded
		}
		p = p[:min(len(p), s.stops[0]-s.off)]
	}
	n, err := s.r.Read(p)
	s.off += n
	return n, err
}

// TestFrameReaderResumesALargeFrame: a large frame whose reading is
// interrupted, before and after its buffer grows, is finished by the next
// read with every byte in place, and the frame after it reads as usual.
func TestFrameReaderResumesALargeFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		size  int
		stops []int // offsets in the stream, the 4-byte header first
	}{
		{"within the first buffer", 100 << 10, []int{4 + 1, 4 + 50<<10}},
		{"across growth", growStep + 300<<10, []int{4 + 10, 4 + growStep, 4 + growStep + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := make([]byte, tc.size)
			for i := range body {
				body[i] = byte(i % 251)
			}
			var wire []byte
			for _, b := range [][]byte{body, []byte("next")} {
				wire = binary.BigEndian.AppendUint32(wire, uint32(len(b)))
				wire = append(wire, b...)
			}
			sr := &stallingReader{r: bytes.NewReader(wire), stops: tc.stops}
			var hdr [frameHeader]byte
			_, err := io.ReadFull(sr, hdr[:])
			require.NoError(t, err)
			fr := &frameReader{r: sr}
			fr.startBig(be32(hdr[:]))
			for range tc.stops {
				left := fr.left()
				require.ErrorIs(t, fr.fill(), os.ErrDeadlineExceeded)
				require.LessOrEqual(t, fr.left(), left)
			}
			got, err := fr.read(DefaultMaxFrame)
			require.NoError(t, err)
			require.Equal(t, body, got)
			require.Zero(t, fr.left())
			got, err = fr.read(DefaultMaxFrame)
			require.NoError(t, err)
			require.Equal(t, "next", string(got))
		})
	}
}
