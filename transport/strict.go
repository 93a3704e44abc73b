package transport

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Unmarshal decodes the msgpack value data into v, a pointer, as
// msgpack.Unmarshal does, but strictly: a number that does not fit its Go
// type (300 into an int8, -1 into a uint, 3.5 into an int, 1e300 into a
// float32, which msgpack refuses itself) is an error instead of a silently
// truncated value, and so is what msgpack would panic on: a value for an
// interface type with methods other than nil, a value of a type registered
// with msgpack.RegisterExt that implements it, or, for error, a string
// (msgpack decodes it with errors.New), and a type that embeds an
// unexported type other than a struct by value (see [CheckType]). Data
// that is not one valid value nested at most [MaxDepth] deep is an error
// before decoding. Types with their own msgpack or encoding unmarshaller
// (time.Time among them) decode as they decide; a panic in one goes on to
// the caller.
//
// Unmarshal scans data once, then walks it beside v's type, allocating
// nothing; the per-type plan is built once per type and cached. Beside
// msgpack.Unmarshal, in BenchmarkUnmarshal on a shared 2-vCPU VM: a lone
// int takes about half the time (36–38 ns against 67–74 ns: msgpack
// allocates a decoder per call), an []int of 100 about 1.1–1.3× (55–63 ns
// an integer against 43–54 ns) and a four-field struct about 1.3–2×
// (500–870 ns against 330–400 ns).
// [Message.Decode] skips the scan.
func Unmarshal(data []byte, v any) error {
	if n, err := scanValue(data, MaxDepth); err != nil || n != len(data) {
		if err == nil {
			err = fmt.Errorf("%d bytes after the value", len(data)-n)
		}
		return fmt.Errorf("transport: invalid msgpack value: %w", err)
	}
	if err := unmarshal(data, v); err != nil {
		return fmt.Errorf("transport: decode into %T: %w", v, err)
	}
	return nil
}

// unmarshal is Unmarshal for data already validated by scanValue; its
// errors are for the caller to wrap.
func unmarshal(data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return errors.New("need a non-nil pointer")
	}
	p := planOf(t.Elem())
	if p.unsettable != nil {
		return p.unsettable
	}
	if p.check != nil {
		if _, err := p.check(data); err != nil {
			return err
		}
	}
	// A panic here is a type's own decoder (DecodeMsgpack, UnmarshalBinary)
	// panicking: it is that code's, and goes on to its caller; the plan's
	// check has already refused what msgpack itself would panic on.
	return decodePooled(data, v)
}

// A pooledDecoder is a msgpack decoder with its reader, reused: what
// msgpack.Unmarshal does, without its allocation of a bytes.Reader per
// value, which a stream of small items pays per item.
type pooledDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var pooledDecoders = sync.Pool{New: func() any {
	d := new(pooledDecoder)
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// pooledMax is the largest input after which a decoder goes back to the
// pool: msgpack's decoder reads a string through a scratch buffer it keeps
// (as msgpack's own pool of decoders does), so after a long one it would
// hold a copy of those bytes for as long as the pool circulates it.
const pooledMax = 64 << 10

// decodePooled is msgpack.Unmarshal(data, v) on a pooled decoder. Reset
// clears the decoder's options, as it does in msgpack.Unmarshal.
func decodePooled(data []byte, v any) error {
	d := pooledDecoders.Get().(*pooledDecoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	err := d.dec.Decode(v) // a panic here leaves d to the collector
	d.r.Reset(nil)         // the pool must not keep data alive
	if len(data) <= pooledMax {
		pooledDecoders.Put(d) // its scratch is at most pooledMax
	}
	return err
}

// CheckType reports whether values of t cross a msgpack boundary whole:
// an error names a struct field that msgpack would silently drop (an
// unexported field, at any depth, that is not tagged `msgpack:"-"`) or
// could not set (an unexported embedded type that is not a struct by
// value: msgpack panics decoding it, and [Unmarshal] refuses it). Types
// with their own msgpack or encoding (un)marshaller are taken as they are.
// A field of an interface type with methods is accepted, though only some
// values cross it (see [Unmarshal]). It walks t once (cycles included) and
// caches the answer.
func CheckType(t reflect.Type) error {
	p := planOf(t)
	return firstErr(p.unsettable, p.err)
}

// A checkFunc checks the msgpack value at the start of b against a Go type
// and returns the value's length. It reports only what msgpack would let
// through silently; any other mismatch is left for msgpack to report.
type checkFunc func(b []byte) (int, error)

// A plan is what crossing the wire means for one Go type: check is nil
// when msgpack needs no help for it; err says why the type loses data,
// unsettable why msgpack cannot decode it at all.
type plan struct {
	check      checkFunc
	ints       *intRange // for an integer type: its range, which check checks
	err        error
	unsettable error
	building   bool // while the planner is still on it
}

// plans caches the plan of each type decoded or declared: derived from the
// type alone, so it never goes stale (msgpack keeps the same cache).
var plans sync.Map // reflect.Type → *plan

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := (&planner{seen: map[reflect.Type]*plan{}}).plan(t)
	plans.Store(t, p)
	return p
}

// A planner builds the plans of a type and the types it contains; seen
// holds the ones under construction, so that a recursive type refers to
// its own plan instead of recursing.
type planner struct {
	seen map[reflect.Type]*plan
}

var unmarshallers = []reflect.Type{
	reflect.TypeFor[msgpack.CustomDecoder](),
	reflect.TypeFor[msgpack.Unmarshaler](),
	reflect.TypeFor[encoding.BinaryUnmarshaler](),
	reflect.TypeFor[encoding.TextUnmarshaler](),
	reflect.TypeFor[msgpack.CustomEncoder](),
	reflect.TypeFor[msgpack.Marshaler](),
	reflect.TypeFor[encoding.BinaryMarshaler](),
	reflect.TypeFor[encoding.TextMarshaler](),
}

// opaque reports whether msgpack leaves t's encoding to t itself.
func opaque(t reflect.Type) bool {
	for _, u := range unmarshallers {
		if t.Implements(u) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(u) {
			return true
		}
	}
	return false
}

func (pl *planner) plan(t reflect.Type) *plan {
	if p, ok := pl.seen[t]; ok {
		if p.building { // a recursive type: refer to its plan, done by then
			return &plan{check: func(b []byte) (int, error) { return runCheck(p.check, b) }}
		}
		return p
	}
	p := &plan{building: true}
	pl.seen[t] = p
	defer func() { p.building = false }()
	if opaque(t) {
		return p
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.ints = newIntRange(t)
		p.check = p.ints.check
	case reflect.Interface:
		if t.NumMethod() > 0 {
			p.check = func(b []byte) (int, error) { return checkInterface(t, b) }
		}
	case reflect.Pointer:
		elem := pl.plan(t.Elem())
		p.err, p.unsettable = elem.err, elem.unsettable
		if elem.check != nil {
			p.check = func(b []byte) (int, error) {
				if b[0] == 0xc0 {
					return 1, nil
				}
				return runCheck(elem.check, b)
			}
		}
	case reflect.Slice, reflect.Array:
		elem := pl.plan(t.Elem())
		p.err, p.unsettable = elem.err, elem.unsettable
		if elem.ints != nil { // the common case, without a call per item
			p.check = elem.ints.checkArray
		} else if elem.check != nil {
			p.check = func(b []byte) (int, error) { return checkArray(b, func(int) checkFunc { return elem.check }) }
		}
	case reflect.Map:
		key, elem := pl.plan(t.Key()), pl.plan(t.Elem())
		p.err, p.unsettable = firstErr(key.err, elem.err), firstErr(key.unsettable, elem.unsettable)
		if key.check != nil || elem.check != nil {
			p.check = func(b []byte) (int, error) { return checkMap(b, key.check, elem.check) }
		}
	case reflect.Struct:
		pl.planStruct(t, p)
	}
	return p
}

func (pl *planner) planStruct(t reflect.Type, p *plan) {
	fs := structFields(t)
	p.err, p.unsettable = fs.err, fs.unsettable
	byName := make(map[string]checkFunc, len(fs.byName))
	list := make([]checkFunc, len(fs.list))
	needed := false
	for name, ft := range fs.byName {
		fp := pl.plan(ft)
		p.err, p.unsettable = firstErr(p.err, fp.err), firstErr(p.unsettable, fp.unsettable)
		byName[name] = fp.check
		needed = needed || fp.check != nil
	}
	for i, f := range fs.list {
		list[i] = byName[f.name]
	}
	if !needed {
		return
	}
	p.check = func(b []byte) (int, error) {
		switch c := b[0]; {
		case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
			return checkMap(b, nil, nil, byName)
		case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd: // as_array
			return checkArray(b, func(i int) checkFunc {
				if i < len(list) {
					return list[i]
				}
				return nil
			})
		}
		return scanValue(b, MaxDepth)
	}
}

var errorType = reflect.TypeFor[error]()

// checkInterface checks the value at b for t, an interface type with
// methods, which msgpack fills with the value it decodes as any (and would
// panic setting, if that does not implement t): so what crosses is nil, a
// value of a type registered with msgpack.RegisterExt that implements t,
// and, for error itself, a string, which msgpack decodes with errors.New.
// An ext value is decoded here once to learn its type.
func checkInterface(t reflect.Type, b []byte) (int, error) {
	switch c := b[0]; {
	case c == 0xc0:
		return 1, nil
	case t == errorType && (c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb):
		return scanValue(b, MaxDepth)
	case c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8:
		n, err := scanValue(b, MaxDepth)
		if err != nil {
			return 0, err
		}
		var v any
		if msgpack.Unmarshal(b[:n], &v) != nil || v == nil {
			return n, nil // an unknown ext: msgpack reports it
		}
		if vt := reflect.TypeOf(v); !vt.Implements(t) {
			return 0, fmt.Errorf("a msgpack ext value for interface type %s: %s does not implement %s", t, vt, t)
		}
		return n, nil
	}
	what := "only nil or a value of a type registered with msgpack.RegisterExt that implements it decodes into it"
	if t == errorType {
		what = "only nil, a string (its message) or a value of a type registered with msgpack.RegisterExt that implements it decodes into it"
	}
	return 0, fmt.Errorf("a value for interface type %s, which msgpack cannot build: %s", t, what)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runCheck runs check on b, or skips the value when there is no check.
func runCheck(check checkFunc, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errTruncated
	}
	if check == nil {
		return scanValue(b, MaxDepth)
	}
	return check(b)
}

// header reads a container header: its item count and length; ok is false
// when b does not start with one of the kind (array or map) asked for.
func header(b []byte, fix, fixMask, code16, code32 byte) (items, n int, ok bool, err error) {
	c := b[0]
	switch {
	case c&^fixMask == fix:
		return int(c & fixMask), 1, true, nil
	case c == code16:
		if len(b) < 3 {
			return 0, 0, true, errTruncated
		}
		return int(binary.BigEndian.Uint16(b[1:])), 3, true, nil
	case c == code32:
		if len(b) < 5 {
			return 0, 0, true, errTruncated
		}
		return be32(b[1:]), 5, true, nil
	}
	return 0, 0, false, nil
}

// checkArray checks each item of the array at b with the check item(i)
// gives; anything else than an array is skipped.
func checkArray(b []byte, item func(i int) checkFunc) (int, error) {
	items, pos, ok, err := header(b, 0x90, 0x0f, 0xdc, 0xdd)
	if err != nil || !ok {
		return skipUnless(b, err)
	}
	for i := range items {
		n, err := runCheck(item(i), b[pos:])
		if err != nil {
			return 0, fmt.Errorf("item %d: %w", i, err)
		}
		pos += n
	}
	return pos, nil
}

// checkMap checks the map at b: its keys with key and its values with
// elem, or, for a struct, each value with the check its key names in
// fields (keys it does not name are skipped, as msgpack does).
func checkMap(b []byte, key, elem checkFunc, fields ...map[string]checkFunc) (int, error) {
	items, pos, ok, err := header(b, 0x80, 0x0f, 0xde, 0xdf)
	if err != nil || !ok {
		return skipUnless(b, err)
	}
	for range items {
		valueCheck, name := elem, []byte(nil)
		if fields != nil {
			name = stringAt(b[pos:])
			valueCheck = fields[0][string(name)] // no allocation
		}
		n, err := runCheck(key, b[pos:])
		if err != nil {
			return 0, fmt.Errorf("map key: %w", err)
		}
		pos += n
		n, err = runCheck(valueCheck, b[pos:])
		if err != nil {
			if fields != nil {
				return 0, fmt.Errorf("field %s: %w", name, err)
			}
			return 0, fmt.Errorf("map value: %w", err)
		}
		pos += n
	}
	return pos, nil
}

// stringAt returns the bytes of the msgpack string or binary at the start
// of b, or nil if it is neither: msgpack takes either as a struct's field
// name.
func stringAt(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var n, off int
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf:
		n, off = int(c&0x1f), 1
	case (c == 0xd9 || c == 0xc4) && len(b) >= 2:
		n, off = int(b[1]), 2
	case (c == 0xda || c == 0xc5) && len(b) >= 3:
		n, off = int(binary.BigEndian.Uint16(b[1:])), 3
	case (c == 0xdb || c == 0xc6) && len(b) >= 5:
		n, off = be32(b[1:]), 5
	default:
		return nil
	}
	if len(b)-off < n {
		return nil
	}
	return b[off : off+n]
}

func skipUnless(b []byte, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return scanValue(b, MaxDepth)
}

// A number is a msgpack number as read off the wire.
type number struct {
	class byte // 'i' integer in i, 'u' integer above MaxInt64 in u, 'f' float in f, 'n' nil, 0 not a number
	i     int64
	u     uint64
	f     float64
	n     int
}

func readNumber(b []byte) (number, error) {
	c := b[0]
	if c <= 0x7f || c >= 0xe0 {
		return number{class: 'i', i: int64(int8(c)), n: 1}, nil
	}
	if c == 0xc0 {
		return number{class: 'n', n: 1}, nil
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2, 0xca:
		size = 4
	case 0xcf, 0xd3, 0xcb:
		size = 8
	default:
		return number{}, nil
	}
	if len(b) < 1+size {
		return number{}, errTruncated
	}
	p := b[1 : 1+size]
	num := number{class: 'i', n: 1 + size}
	switch c {
	case 0xcc:
		num.i = int64(p[0])
	case 0xcd:
		num.i = int64(binary.BigEndian.Uint16(p))
	case 0xce:
		num.i = int64(binary.BigEndian.Uint32(p))
	case 0xcf:
		if u := binary.BigEndian.Uint64(p); u > math.MaxInt64 {
			num.class, num.u = 'u', u
		} else {
			num.i = int64(u)
		}
	case 0xd0:
		num.i = int64(int8(p[0]))
	case 0xd1:
		num.i = int64(int16(binary.BigEndian.Uint16(p)))
	case 0xd2:
		num.i = int64(int32(binary.BigEndian.Uint32(p)))
	case 0xd3:
		num.i = int64(binary.BigEndian.Uint64(p))
	case 0xca:
		num.class, num.f = 'f', float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
	case 0xcb:
		num.class, num.f = 'f', math.Float64frombits(binary.BigEndian.Uint64(p))
	}
	return num, nil
}

func (num number) String() string {
	switch num.class {
	case 'u':
		return fmt.Sprint(num.u)
	case 'f':
		return fmt.Sprint(num.f)
	}
	return fmt.Sprint(num.i)
}

// An intRange is the range of an integer type t, for its check: lo and hi
// bound the values up to MaxInt64; wide is whether the ones above fit.
type intRange struct {
	t      reflect.Type
	lo, hi int64
	wide   bool // uint64, uint, uintptr on 64 bits
}

func newIntRange(t reflect.Type) *intRange {
	bits := t.Bits()
	if k := t.Kind(); k >= reflect.Int && k <= reflect.Int64 {
		return &intRange{t: t, lo: int64(-1) << (bits - 1), hi: int64(1)<<(bits-1) - 1}
	}
	if bits == 64 {
		return &intRange{t: t, hi: math.MaxInt64, wide: true}
	}
	return &intRange{t: t, hi: int64(1)<<bits - 1}
}

// fixint reports whether c is a fixint that fits r: a positive one fits
// every integer type, a negative one every signed type.
func (r *intRange) fixint(c byte) bool { return c <= 0x7f || c >= 0xe0 && r.lo < 0 }

// check is the checkFunc of r's type. Integers that fit take the short
// way; anything else (nil, a float, another value, an error) the long one.
func (r *intRange) check(b []byte) (int, error) {
	c := b[0]
	if r.fixint(c) {
		return 1, nil
	}
	var v int64
	var n int
	switch c {
	case 0xcc:
		if len(b) >= 2 {
			v, n = int64(b[1]), 2
		}
	case 0xd0:
		if len(b) >= 2 {
			v, n = int64(int8(b[1])), 2
		}
	case 0xcd:
		if len(b) >= 3 {
			v, n = int64(binary.BigEndian.Uint16(b[1:])), 3
		}
	case 0xd1:
		if len(b) >= 3 {
			v, n = int64(int16(binary.BigEndian.Uint16(b[1:]))), 3
		}
	case 0xce:
		if len(b) >= 5 {
			v, n = int64(binary.BigEndian.Uint32(b[1:])), 5
		}
	case 0xd2:
		if len(b) >= 5 {
			v, n = int64(int32(binary.BigEndian.Uint32(b[1:]))), 5
		}
	case 0xcf, 0xd3:
		if len(b) >= 9 {
			v, n = int64(binary.BigEndian.Uint64(b[1:])), 9
			if c == 0xcf && v < 0 { // above MaxInt64
				if r.wide {
					return n, nil
				}
				n = 0
			}
		}
	}
	if n > 0 && v >= r.lo && v <= r.hi {
		return n, nil
	}
	return r.slow(b)
}

// slow is check's long way: nil passes, a value that is not a number is
// left for msgpack to report, and a number that does not fit is an error.
func (r *intRange) slow(b []byte) (int, error) {
	num, err := readNumber(b)
	switch {
	case err != nil:
		return 0, err
	case num.class == 0: // not a number: msgpack reports it
		return scanValue(b, MaxDepth)
	case num.class == 'n':
		return num.n, nil
	case num.class == 'f':
		return 0, fmt.Errorf("the float %v does not decode into the integer type %s", num, r.t)
	}
	return 0, fmt.Errorf("%v does not fit in %s", num, r.t)
}

// checkArray is the checkFunc of a slice or array of r's type: checkArray's
// loop, with the fixints that fit passed over in place.
func (r *intRange) checkArray(b []byte) (int, error) {
	items, pos, ok, err := header(b, 0x90, 0x0f, 0xdc, 0xdd)
	if err != nil || !ok {
		return skipUnless(b, err)
	}
	for i := range items {
		if pos >= len(b) {
			return 0, errTruncated
		}
		if r.fixint(b[pos]) {
			pos++
			continue
		}
		n, err := r.check(b[pos:])
		if err != nil {
			return 0, fmt.Errorf("item %d: %w", i, err)
		}
		pos += n
	}
	return pos, nil
}

// wireFields are a struct's fields as msgpack encodes them: the list in
// order (for as_array structs) and every name a map key may use.
type wireFields struct {
	list       []wireField
	byName     map[string]reflect.Type
	err        error // a field msgpack drops silently
	unsettable error // a field msgpack panics setting
}

type wireField struct {
	name string
	typ  reflect.Type
}

func (fs *wireFields) add(name string, t reflect.Type) {
	fs.list = append(fs.list, wireField{name, t})
	fs.byName[name] = t
}

// structFields lists t's fields by msgpack's rules (its getFields): the
// msgpack tag's name or the field's, "-" skipped, unexported fields
// skipped, embedded structs inlined unless a field would be shadowed (or
// the tag says noinline), aliases.
func structFields(t reflect.Type) *wireFields {
	fs := &wireFields{byName: map[string]reflect.Type{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts := parseTag(f.Tag.Get("msgpack"))
		if name == "-" || f.Name == "_msgpack" {
			continue
		}
		if !f.IsExported() && !f.Anonymous {
			if fs.err == nil {
				fs.err = fmt.Errorf("transport: %s has the unexported field %s, which msgpack would drop: "+
					"export it, or tag it `msgpack:\"-\"` to drop it knowingly", t, f.Name)
			}
			continue
		}
		if !f.IsExported() && f.Type.Kind() != reflect.Struct && fs.unsettable == nil {
			// msgpack sets a struct embedded by value field by field, which
			// reflect allows; anything else it would set whole, and panic.
			fs.unsettable = fmt.Errorf("transport: %s embeds the unexported %s, which msgpack cannot set (it panics decoding it): "+
				"export the type, embed it by value, or tag it `msgpack:\"-\"`", t, f.Type)
		}
		if name == "" {
			name = f.Name
		}
		if f.Anonymous && !opts["noinline"] {
			inline := opts["inline"]
			if inline {
				fs.inline(f.Type, false)
			} else {
				inline = fs.inline(f.Type, true)
			}
			if inline {
				fs.byName[name] = f.Type
				continue
			}
		}
		fs.add(name, f.Type)
		for opt := range opts {
			if alias, ok := strings.CutPrefix(opt, "alias:"); ok {
				fs.byName[alias] = f.Type
			}
		}
	}
	return fs
}

// inline adds the fields of the embedded type t; when auto, only if t is a
// plain struct (or pointer to one) none of whose fields is shadowed, and it
// reports whether it did.
func (fs *wireFields) inline(t reflect.Type, auto bool) bool {
	if auto {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || opaque(t) {
			return false
		}
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	sub := structFields(t)
	fs.err, fs.unsettable = firstErr(fs.err, sub.err), firstErr(fs.unsettable, sub.unsettable)
	for _, f := range sub.list {
		if _, shadowed := fs.byName[f.name]; shadowed && auto {
			return false
		}
	}
	for _, f := range sub.list {
		if _, shadowed := fs.byName[f.name]; !shadowed {
			fs.add(f.name, f.typ)
		}
	}
	return true
}

// parseTag splits a msgpack tag into its name and options.
func parseTag(tag string) (string, map[string]bool) {
	name, rest, _ := strings.Cut(tag, ",")
	var opts map[string]bool
	for opt := range strings.SplitSeq(rest, ",") {
		if opt != "" {
			if opts == nil {
				opts = map[string]bool{}
			}
			opts[opt] = true
		}
	}
	return name, opts
}
