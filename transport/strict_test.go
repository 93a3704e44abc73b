package transport_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

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
	_msgpack struct{} `msgpack:",as_array"` //lint:ignore U1000 msgpack reads this field's tag by reflection: as_array encodes the struct as an array
	A, B     int8
}

// embedsPointer embeds an unexported pointer, which msgpack cannot set.
type embedsPointer struct {
	*inner
	Y int
}

// embedsLevel embeds an unexported non-struct type, which msgpack cannot set.
type embedsLevel struct {
	level //lint:ignore U1000 the unexported embedded type under test: only reflection sees it
	Y     int
}

// noinline embeds an unexported struct by value, as a field of its own.
type noinline struct {
	inner `msgpack:",noinline"`
	Y     int
}

// withInterfaces has fields of interface types with methods.
type withInterfaces struct {
	Err      error
	Stringer fmt.Stringer
	Reader   io.Reader
}

// celsius is a msgpack ext type (registered in init) and a fmt.Stringer.
type celsius struct{ Deg int8 }

func (c *celsius) String() string { return fmt.Sprintf("%d°C", c.Deg) }

func (c *celsius) MarshalMsgpack() ([]byte, error) { return []byte{byte(c.Deg)}, nil }

func (c *celsius) UnmarshalMsgpack(b []byte) error {
	if len(b) != 1 {
		return errors.New("celsius: want 1 byte")
	}
	c.Deg = int8(b[0])
	return nil
}

func init() { msgpack.RegisterExt(77, (*celsius)(nil)) }

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
		{"bin field name", msgpack.RawMessage{0x81, 0xc4, 1, 'N', 0xcd, 0x01, 0x2c}, func() any { return new(inner) }, "field N: 300 does not fit in int8"},
		{"bin16 field name", msgpack.RawMessage{0x81, 0xc5, 0, 1, 'N', 0xd1, 0xff, 0x00}, func() any { return new(inner) }, "field N: -256 does not fit in int8"},
		{"bin32 field name fits", msgpack.RawMessage{0x81, 0xc6, 0, 0, 0, 1, 'N', 0x05}, func() any { return new(inner) }, ""},
		{"error from its message", withInterfaces{Err: errors.New("boom")}, func() any { return new(withInterfaces) }, ""},
		{"error from a number", map[string]any{"Err": 1}, func() any { return new(withInterfaces) }, "interface type error"},
		{"a named error-like interface from a string", map[string]any{"Stringer": "x"}, func() any { return new(withInterfaces) }, "interface type fmt.Stringer"},
		{"ext type into an interface it implements", withInterfaces{Stringer: &celsius{21}}, func() any { return new(withInterfaces) }, ""},
		{"ext type into an interface it does not implement", map[string]any{"Reader": &celsius{21}}, func() any { return new(withInterfaces) }, "*transport_test.celsius does not implement io.Reader"},
		{"time ext into io.Reader", map[string]any{"Reader": time.Unix(1, 0)}, func() any { return new(withInterfaces) }, "time.Time does not implement io.Reader"},
		{"unknown ext into an interface", map[string]any{"Reader": msgpack.RawMessage{0xd4, 99, 0}}, func() any { return new(withInterfaces) }, "unknown ext id=99"},
		{"unexported embedded pointer", map[string]any{"N": 1, "Y": 2}, func() any { return new(embedsPointer) }, "embeds the unexported *transport_test.inner"},
		{"unexported embedded pointer, not in the data", map[string]any{"Y": 2}, func() any { return new(embedsPointer) }, "embeds the unexported"},
		{"unexported embedded number", map[string]any{"level": 1}, func() any { return new(embedsLevel) }, "embeds the unexported transport_test.level"},
		{"unexported embedded struct, not inlined", map[string]any{"inner": map[string]any{"N": 1}}, func() any { return new(noinline) }, ""},
		{"unexported embedded struct, not inlined, checked", map[string]any{"inner": map[string]any{"N": 1000}}, func() any { return new(noinline) }, "1000 does not fit in int8"},
		{"ints", []int64{1, -1, 127, -32, -33, 128, 1 << 40}, func() any { return new([]int16) }, "item 6: 1099511627776 does not fit in int16"},
		{"ints fit", []any{1, -1, nil, 127, -32, -33, 128, 40000}, func() any { return new([]int32) }, ""},
		{"negative fixint into uints", []int{1, -1}, func() any { return new([]uint) }, "item 1: -1 does not fit in uint"},
		{"uints", []uint64{0, 255, 256}, func() any { return new([3]uint8) }, "item 2: 256 does not fit in uint8"},
		{"named ints", []int{1, 200}, func() any { return new([]level) }, "item 1: 200 does not fit in transport_test.level"},
		{"a float among ints", []any{1, 2.5}, func() any { return new([]int) }, "item 1: the float 2.5"},
		{"a string among ints", []any{1, "x"}, func() any { return new([]int) }, "msgpack"},
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
	require.ErrorContains(t, transport.Unmarshal([]byte{0x93, 0x01, 0x02}, &v), "invalid msgpack value", "an array of numbers cut short")
	require.ErrorContains(t, transport.Unmarshal([]byte{0x92, 0x01, 0xcd, 0x01}, &v), "invalid msgpack value", "a number cut short")
}

func TestUnmarshalInterfaces(t *testing.T) {
	t.Parallel()
	var got withInterfaces
	require.NoError(t, transport.Unmarshal(raw(t, withInterfaces{Err: errors.New("boom"), Stringer: &celsius{21}}), &got))
	require.EqualError(t, got.Err, "boom")
	require.Equal(t, "21°C", got.Stringer.String())
	require.Nil(t, got.Reader)
}

type hiding struct {
	Shown  int
	hidden int //lint:ignore U1000 the unexported field under test: only reflection sees it
}

type dropped struct {
	Shown  int
	hidden int `msgpack:"-"` //lint:ignore U1000 the unexported field under test: only reflection sees it
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
		{reflect.TypeFor[embedsPointer](), "transport_test.embedsPointer embeds the unexported *transport_test.inner"},
		{reflect.TypeFor[map[string]embedsLevel](), "embeds the unexported transport_test.level"},
		{reflect.TypeFor[noinline](), ""},
		{reflect.TypeFor[withInterfaces](), ""},
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
