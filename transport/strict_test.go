package transport_test

import (
	"io"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

type level int8

type inner struct {
	N    int8
	Tags map[string]uint8
}

type outer struct {
	In     inner
	Ptr    *inner
	List   []int16
	Named  level `msgpack:"lvl"`
	Skip   int   `msgpack:"-"`
	Reader io.Reader
	Any    any
	When   time.Time
}

type embedded struct {
	inner
	Extra uint32
}

type pair struct {
	_msgpack struct{} `msgpack:",as_array"`
	A, B     int8
}

// tree is recursive, through a slice and a pointer.
type tree struct {
	V        int8
	Children []tree
	Parent   *tree
}

func TestUnmarshalIsStrict(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		wire any
		into func() any // a pointer to decode into
		err  string     // empty: it decodes
	}{
		{"int8 overflows", 300, func() any { return new(int8) }, "300 does not fit in int8"},
		{"int8 fits", -128, func() any { return new(int8) }, ""},
		{"uint8 negative", -1, func() any { return new(uint8) }, "-1 does not fit in uint8"},
		{"uint64 max", uint64(math.MaxUint64), func() any { return new(uint64) }, ""},
		{"int64 from a huge uint", uint64(math.MaxUint64), func() any { return new(int) }, "does not fit in int"},
		{"float into int", 3.5, func() any { return new(int) }, "the float 3.5 does not decode into the integer type int"},
		{"float64 into float32", 1e300, func() any { return new(float32) }, "float32"},
		{"float32", float32(1.5), func() any { return new(float32) }, ""},
		{"named type", 200, func() any { return new(level) }, "200 does not fit in transport_test.level"},
		{"nil into int", nil, func() any { return new(int8) }, ""},
		{"nested field", map[string]any{"In": map[string]any{"N": 1000}}, func() any { return new(outer) }, "field In: field N: 1000 does not fit in int8"},
		{"through a pointer", map[string]any{"Ptr": map[string]any{"N": 1000}}, func() any { return new(outer) }, "1000 does not fit in int8"},
		{"map value", map[string]any{"In": map[string]any{"Tags": map[string]int{"a": 256}}}, func() any { return new(outer) }, "256 does not fit in uint8"},
		{"slice item", map[string]any{"List": []int{1, 40000}}, func() any { return new(outer) }, "item 1: 40000 does not fit in int16"},
		{"tagged name", map[string]any{"lvl": 128}, func() any { return new(outer) }, "field lvl: 128"},
		{"skipped field", map[string]any{"Skip": 1e9}, func() any { return new(outer) }, ""},
		{"interface with methods", map[string]any{"Reader": map[string]any{"x": 1}}, func() any { return new(outer) }, "interface type io.Reader"},
		{"nil interface", map[string]any{"Reader": nil, "Any": map[string]any{"x": 1}}, func() any { return new(outer) }, ""},
		{"time", map[string]any{"When": time.Unix(1, 0)}, func() any { return new(outer) }, ""},
		{"embedded field", map[string]any{"N": 999, "Extra": 1}, func() any { return new(embedded) }, "field N: 999 does not fit in int8"},
		{"as array", []int{1, 500}, func() any { return new(pair) }, "item 1: 500 does not fit in int8"},
		{"recursive", map[string]any{"Children": []any{map[string]any{"Parent": map[string]any{"V": 128}}}}, func() any { return new(tree) }, "128 does not fit in int8"},
		{"recursive fits", map[string]any{"Children": []any{map[string]any{"V": 127}}}, func() any { return new(tree) }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := transport.Unmarshal(raw(t, c.wire), c.into())
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.err)
		})
	}
}

func TestUnmarshalRefusesHostileBytes(t *testing.T) {
	t.Parallel()
	var v []int8
	require.ErrorContains(t, transport.Unmarshal([]byte{0x92, 0x01}, &v), "invalid msgpack value")
	require.ErrorContains(t, transport.Unmarshal([]byte{0x01, 0x02}, &v), "invalid msgpack value")
	require.Error(t, transport.Unmarshal([]byte{0x01}, v), "not a pointer")
}

type hiding struct {
	Shown  int
	hidden int
}

type dropped struct {
	Shown  int
	hidden int `msgpack:"-"`
}

type deep struct {
	Items map[string][]*hiding
}

type cyclic struct {
	Next *cyclic
	Self []cyclic
}

func TestCheckType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ reflect.Type
		err string
	}{
		{reflect.TypeFor[int](), ""},
		{reflect.TypeFor[hiding](), "transport_test.hiding has the unexported field hidden"},
		{reflect.TypeFor[dropped](), ""},
		{reflect.TypeFor[deep](), "unexported field hidden"},
		{reflect.TypeFor[cyclic](), ""},
		{reflect.TypeFor[time.Time](), ""},
		{reflect.TypeFor[pair](), ""},
		{reflect.TypeFor[embedded](), ""},
		{reflect.TypeFor[[]struct{ x int }](), "unexported field x"},
	}
	for _, c := range cases {
		t.Run(c.typ.String(), func(t *testing.T) {
			t.Parallel()
			err := transport.CheckType(c.typ)
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.err)
			require.ErrorContains(t, err, "msgpack:\"-\"", "the error says the fix")
		})
	}
}
