package transport_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/grove-rt/grove/transport"
)

// TestProtocolExamples checks every byte example of PROTOCOL.md against
// the code, in the format its section 12 gives: each frame must decode
// (DecodeMessage) to the message its `message` line describes, field by
// field, and encode back (AppendFrame) to exactly its bytes; the bytes
// must be the described value in msgpack; the preface must be [Preface].
// A hex dump the parser cannot check (in a plain code block, or a whole
// frame inline) fails the test, so no example escapes it.
func TestProtocolExamples(t *testing.T) {
	t.Parallel()
	frames, prefaces := protocolDoc(t)
	// Sections 5.4 (2), 12.1 (3), 12.2 (4), 12.3 and 12.4 at least: a
	// parser that finds fewer has lost some.
	require.GreaterOrEqual(t, len(frames), 11, "frame examples found in PROTOCOL.md")
	require.Equal(t, [][]byte{[]byte(transport.Preface)}, prefaces, "the preface of section 3")
	for _, ex := range frames {
		t.Run(fmt.Sprintf("line %d", ex.line), func(t *testing.T) {
			t.Parallel()
			require.GreaterOrEqual(t, len(ex.frame), 5, "a frame is a length prefix and a body")
			body := ex.frame[4:]
			require.Equal(t, len(body), int(binary.BigEndian.Uint32(ex.frame)), "the length prefix counts the body")
			got, err := readValue(body)
			require.NoError(t, err, "the body is not one msgpack value")
			require.Equal(t, ex.message.String(), got.String(), "the bytes are not the message the example describes")

			m, err := transport.DecodeMessage(body)
			require.NoError(t, err)
			view, err := messageView(m)
			require.NoError(t, err)
			require.NoError(t, matchView(view, ex.message, true), "DecodeMessage read %s", view)

			frame, err := transport.AppendFrame(nil, m)
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(ex.frame), hex.EncodeToString(frame), "AppendFrame of the decoded message")
		})
	}
}

// TestProtocolSenderBytes checks the examples that carry a value against
// what a Conn sends: a Call, Started, Yield or Return encoded from the
// value as a Go value (not its bytes, which AppendFrame copies), and a
// Batch's items as the sender batches them (which is one of the forms
// section 5.4 shows: array32, so that the count can be patched).
func TestProtocolSenderBytes(t *testing.T) {
	t.Parallel()
	frames, _ := protocolDoc(t)
	checked, batches := 0, 0
	for _, ex := range frames {
		m, err := transport.DecodeMessage(ex.frame[4:])
		require.NoError(t, err, "line %d", ex.line)
		switch m.Kind {
		case transport.KindCall, transport.KindStarted, transport.KindYield, transport.KindReturn, transport.KindBatch:
		default:
			continue
		}
		v, err := goValue(m.Payload)
		require.NoError(t, err, "line %d", ex.line)
		sent := *m
		sent.Payload = nil
		frame, err := transport.EncodeAsSender(&sent, v)
		require.NoError(t, err, "line %d", ex.line)
		if m.Kind == transport.KindBatch {
			if bytes.Equal(frame, ex.frame) {
				batches++
			}
			continue
		}
		checked++
		require.Equal(t, hex.EncodeToString(ex.frame), hex.EncodeToString(frame), "line %d: what a Conn sends", ex.line)
	}
	// Sections 5.4 and 12.1 hold four such frames, and a Batch as the
	// sender writes it.
	require.GreaterOrEqual(t, checked, 4, "examples of a Call, Started, Yield or Return")
	require.GreaterOrEqual(t, batches, 1, "a Batch example in the sender's form")
}

// goValue decodes b into the Go value an application would send for it:
// integers as int or uint, which msgpack encodes in their shortest form.
func goValue(b []byte) (any, error) {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	d.UseLooseInterfaceDecoding(true)
	v, err := d.DecodeInterface()
	return shortInts(v), err
}

func shortInts(v any) any {
	switch v := v.(type) {
	case int64:
		return int(v)
	case uint64:
		return uint(v)
	case []any:
		for i := range v {
			v[i] = shortInts(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = shortInts(v[k])
		}
	}
	return v
}

// protocolDoc parses PROTOCOL.md's examples.
func protocolDoc(t *testing.T) (frames []frameExample, prefaces [][]byte) {
	t.Helper()
	doc, err := os.ReadFile("PROTOCOL.md")
	require.NoError(t, err)
	frames, prefaces, err = parseProtocolDoc(string(doc))
	require.NoError(t, err)
	return frames, prefaces
}

// TestProtocolLabels checks the hex of section 2.3's ASCII labels.
func TestProtocolLabels(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("PROTOCOL.md")
	require.NoError(t, err)
	rows := regexp.MustCompile("ASCII `([^`]+)` = `([0-9a-f ]+)`").FindAllStringSubmatch(string(doc), -1)
	require.Len(t, rows, 2)
	for _, r := range rows {
		b, err := hex.DecodeString(strings.ReplaceAll(r[2], " ", ""))
		require.NoError(t, err)
		require.Equal(t, r[1], string(b))
	}
}

// TestProtocolParser checks that the example parser refuses what it
// cannot check, and reads what the format allows.
func TestProtocolParser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc, err string
		frames         int
	}{
		{"two in a block, comments", "```frame\nmessage [5, 1]  Stop\n00 00 00 03  92 05 01  [5, 1]\n\nmessage [8, 1]\n00 00 00 03\n92 08 01\n```\n", "", 2},
		{"a value over lines", "```frame\nmessage [1, 0, {\"a\": 1,\n  \"b\": [true, nil, -1, \"x\\\"y\"]}] comment\n00\n```\n", "", 1},
		{"bytes without a message", "```frame\n00 00 00 03 92 05 01\n```\n", "before any message line", 0},
		{"a message without bytes", "```frame\nmessage [5, 1]\n```\n", "no bytes", 0},
		{"a line of neither", "```frame\nmessage [5, 1]\nStop on 1\n```\n", "neither", 0},
		{"an unclosed value", "```frame\nmessage [5, 1\n```\n", "value", 0},
		{"a bad value", "```frame\nmessage [5, 1,]\n00\n```\n", "value", 0},
		{"an unclosed block", "```frame\nmessage [5, 1]\n00\n", "not closed", 0},
		{"uppercase hex", "```frame\nmessage [5, 1]\n00 00 00 03 92 05 0A\n```\n", "lowercase", 0},
		{"a hex dump in a plain block", "```\n00 00 00 03 92 05 01\n```\n", "plain code block", 0},
		{"an inline frame", "Stop: `00 00 00 03 92 05 01`.\n", "inline", 0},
		{"an inline fragment", "a kind as `cf 00 00 00 00 00 00 00 05` and `89 47 52`\n", "", 0},
		{"a diagram", "```\ncaller    callee\n  |--- Call [2, 1, \"f\", nil] -->|\n```\n", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			frames, _, err := parseProtocolDoc(tc.doc)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, frames, tc.frames)
		})
	}
}

// A frameExample is one `message` line of a frame block and its bytes.
type frameExample struct {
	line    int // of its message line, from 1
	message value
	frame   []byte
}

var (
	hexByte    = regexp.MustCompile(`^[0-9a-f]{2}$`)
	anyHexByte = regexp.MustCompile(`^[0-9a-fA-F]{2}$`)
	inlineHex  = regexp.MustCompile("`((?:[0-9a-f]{2} )+[0-9a-f]{2})`")
	fenceStart = "```"
)

// parseProtocolDoc returns the frame examples and the preface blocks of a
// document in PROTOCOL.md's format (its section 12).
func parseProtocolDoc(doc string) (frames []frameExample, prefaces [][]byte, err error) {
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, fenceStart) {
			if err := checkInline(i+1, lines[i]); err != nil {
				return nil, nil, err
			}
			continue
		}
		info, start := strings.TrimSpace(strings.TrimPrefix(line, fenceStart)), i+1
		var block []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != fenceStart; i++ {
			block = append(block, lines[i])
		}
		if i == len(lines) {
			return nil, nil, fmt.Errorf("line %d: code block not closed", start)
		}
		switch info {
		case "frame":
			ex, err := parseFrameBlock(start+1, block)
			if err != nil {
				return nil, nil, err
			}
			frames = append(frames, ex...)
		case "preface":
			var b []byte
			for _, l := range block {
				b = append(b, hexPrefix(l)...)
			}
			prefaces = append(prefaces, b)
		default:
			for j, l := range block {
				if len(hexPrefix(l)) >= 2 {
					return nil, nil, fmt.Errorf("line %d: a hex dump in a plain code block: make it a ```frame block with a message line (PROTOCOL.md section 12)", start+1+j)
				}
			}
		}
	}
	return frames, prefaces, nil
}

// checkInline refuses a whole frame written inline: a run of hex bytes in
// backquotes whose first four count the rest.
func checkInline(n int, line string) error {
	for _, m := range inlineHex.FindAllStringSubmatch(line, -1) {
		b, _ := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if len(b) > 4 && int(binary.BigEndian.Uint32(b)) == len(b)-4 {
			return fmt.Errorf("line %d: an inline frame `%s`: write it as a ```frame block with a message line (PROTOCOL.md section 12)", n, m[1])
		}
	}
	return nil
}

// hexPrefix returns the bytes a line begins with: its words up to the
// first that is not two hex digits.
func hexPrefix(line string) []byte {
	var b []byte
	for _, w := range strings.Fields(line) {
		if !hexByte.MatchString(w) {
			break
		}
		v, _ := strconv.ParseUint(w, 16, 8)
		b = append(b, byte(v))
	}
	return b
}

// parseFrameBlock reads the examples of one frame block whose first line
// is line first of the document.
func parseFrameBlock(first int, block []string) ([]frameExample, error) {
	var out []frameExample
	for j := 0; j < len(block); j++ {
		line, n := strings.TrimSpace(block[j]), first+j
		switch {
		case line == "":
		case strings.HasPrefix(line, "message "):
			text := strings.TrimPrefix(line, "message ")
			for !balanced(text) && j+1 < len(block) {
				j++
				text += "\n" + block[j]
			}
			p := &notation{s: text}
			v, err := p.value()
			if err != nil {
				return nil, fmt.Errorf("line %d: message value: %w", n, err)
			}
			out = append(out, frameExample{line: n, message: v})
		default:
			b := hexPrefix(line)
			if w := strings.Fields(line); len(w) > len(b) && anyHexByte.MatchString(w[len(b)]) {
				return nil, fmt.Errorf("line %d: %q: write bytes in lowercase hex (a comment must not begin with two hex digits)", n, w[len(b)])
			}
			switch {
			case len(b) == 0:
				return nil, fmt.Errorf("line %d: neither a message line nor hex bytes: %q", n, line)
			case len(out) == 0:
				return nil, fmt.Errorf("line %d: bytes before any message line", n)
			}
			out[len(out)-1].frame = append(out[len(out)-1].frame, b...)
		}
	}
	for _, ex := range out {
		if len(ex.frame) == 0 {
			return nil, fmt.Errorf("line %d: a message with no bytes", ex.line)
		}
	}
	return out, nil
}

// balanced reports whether s closes every bracket it opens, outside
// strings.
func balanced(s string) bool {
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		}
	}
	return depth <= 0 && !quoted
}

// A value is a msgpack value as PROTOCOL.md writes one: an array, a map
// (keys and values alternating in items, in order) or a scalar in its
// canonical text.
type value struct {
	kind  byte // '[' array, '{' map, 's' string, 'i' integer, 'o' other scalar
	text  string
	items []value
}

// String formats v in the document's notation, canonically.
func (v value) String() string {
	switch v.kind {
	case '[', '{':
		var b strings.Builder
		b.WriteByte(v.kind)
		for i, it := range v.items {
			switch {
			case v.kind == '{' && i%2 == 1:
				b.WriteString(": ")
			case i > 0:
				b.WriteString(", ")
			}
			b.WriteString(it.String())
		}
		if v.kind == '[' {
			b.WriteByte(']')
		} else {
			b.WriteByte('}')
		}
		return b.String()
	}
	return v.text
}

func str(s string) value      { return value{kind: 's', text: strconv.Quote(s)} }
func uintV(n uint64) value    { return value{kind: 'i', text: strconv.FormatUint(n, 10)} }
func intV(n int64) value      { return value{kind: 'i', text: strconv.FormatInt(n, 10)} }
func array(vs ...value) value { return value{kind: '[', items: vs} }

// notation parses the document's value notation.
type notation struct {
	s string
	i int
}

func (p *notation) skip() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *notation) value() (value, error) {
	p.skip()
	if p.i == len(p.s) {
		return value{}, fmt.Errorf("ends before a value in %q", p.s)
	}
	switch c := p.s[p.i]; {
	case c == '[' || c == '{':
		return p.container(c)
	case c == '"':
		q, err := strconv.QuotedPrefix(p.s[p.i:])
		if err != nil {
			return value{}, fmt.Errorf("string at %q: %w", p.s[p.i:], err)
		}
		p.i += len(q)
		s, err := strconv.Unquote(q)
		if err != nil {
			return value{}, err
		}
		return str(s), nil
	}
	j := p.i
	for j < len(p.s) && (p.s[j] == '-' || p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] >= 'a' && p.s[j] <= 'z') {
		j++
	}
	word := p.s[p.i:j]
	p.i = j
	switch word {
	case "nil", "true", "false":
		return value{kind: 'o', text: word}, nil
	}
	if n, err := strconv.ParseInt(word, 10, 64); err == nil {
		return intV(n), nil
	}
	if n, err := strconv.ParseUint(word, 10, 64); err == nil {
		return uintV(n), nil
	}
	return value{}, fmt.Errorf("not a value: %q", word)
}

func (p *notation) container(open byte) (value, error) {
	closer, v := byte(']'), value{kind: open}
	if open == '{' {
		closer = '}'
	}
	p.i++
	for n := 0; ; n++ {
		p.skip()
		if p.i < len(p.s) && p.s[p.i] == closer && n == 0 {
			p.i++
			return v, nil
		}
		it, err := p.value()
		if err != nil {
			return value{}, err
		}
		v.items = append(v.items, it)
		if open == '{' {
			p.skip()
			if it.kind != 's' || p.i == len(p.s) || p.s[p.i] != ':' {
				return value{}, fmt.Errorf("a map key must be a string followed by ':' in %q", p.s)
			}
			p.i++
			if it, err = p.value(); err != nil {
				return value{}, err
			}
			v.items = append(v.items, it)
		}
		p.skip()
		switch {
		case p.i < len(p.s) && p.s[p.i] == ',':
			p.i++
		case p.i < len(p.s) && p.s[p.i] == closer:
			p.i++
			return v, nil
		default:
			return value{}, fmt.Errorf("expected ',' or %q in %q", closer, p.s)
		}
	}
}

// readValue reads b, which must be exactly one msgpack value.
func readValue(b []byte) (value, error) {
	r := bytes.NewReader(b)
	v, err := decodeValue(msgpack.NewDecoder(r))
	if err == nil && r.Len() > 0 {
		err = fmt.Errorf("%d bytes after the value", r.Len())
	}
	return v, err
}

func decodeValue(d *msgpack.Decoder) (value, error) {
	c, err := d.PeekCode()
	if err != nil {
		return value{}, err
	}
	n, kind := 0, byte(0)
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err = d.DecodeArrayLen()
		kind = '['
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err = d.DecodeMapLen()
		n, kind = 2*n, '{'
	default:
		x, err := d.DecodeInterface()
		if err != nil {
			return value{}, err
		}
		switch x := x.(type) {
		case string:
			return str(x), nil
		case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
			return value{kind: 'i', text: fmt.Sprint(x)}, nil
		case nil:
			return value{kind: 'o', text: "nil"}, nil
		}
		return value{kind: 'o', text: fmt.Sprintf("%#v", x)}, nil
	}
	if err != nil {
		return value{}, err
	}
	v := value{kind: kind}
	for range n {
		it, err := decodeValue(d)
		if err != nil {
			return value{}, err
		}
		v.items = append(v.items, it)
	}
	return v, nil
}

// messageView is what DecodeMessage put in m's fields, as a value.
func messageView(m *transport.Message) (value, error) {
	v := array(uintV(uint64(m.Kind)), uintV(m.ID))
	switch m.Kind {
	case transport.KindCall:
		v.items = append(v.items, str(m.Func))
		fallthrough
	case transport.KindStarted, transport.KindYield, transport.KindReturn, transport.KindBatch:
		p, err := readValue(m.Payload)
		if err != nil {
			return value{}, fmt.Errorf("payload: %w", err)
		}
		v.items = append(v.items, p)
		if len(m.Metadata) > 0 { // a Call's optional fifth element
			md := mapV()
			for k, val := range m.Metadata {
				md.items = append(md.items, str(k), str(val))
			}
			v.items = append(v.items, md)
		}
	case transport.KindCredit:
		v.items = append(v.items, uintV(uint64(m.Credit)))
	case transport.KindHello:
		h := m.Hello
		hv := mapV("version", uintV(uint64(h.Version)), "name", str(h.Actor.Name), "id", str(h.Actor.ID),
			"pid", intV(int64(h.Actor.PID)), "role", str(h.Role), "initiator", boolV(h.Initiator),
			"window", uintV(uint64(h.Window)), "max_frame", uintV(uint64(h.MaxFrame)))
		if h.Actor.Host != "" {
			hv.items = append(hv.items, str("host"), str(h.Actor.Host))
		}
		if h.Batch != 0 {
			hv.items = append(hv.items, str("batch"), uintV(uint64(h.Batch)))
		}
		v.items = append(v.items, hv)
	case transport.KindError:
		v.items = append(v.items, errorView(m.Err))
	}
	return v, nil
}

func errorView(e *transport.ErrorInfo) value {
	via := array()
	for _, a := range e.Via {
		via.items = append(via.items, actorView(a))
	}
	is := array()
	for _, s := range e.Is {
		is.items = append(is.items, str(s))
	}
	v := mapV("type", str(e.Type), "message", str(e.Message), "stack", str(e.Stack),
		"source", actorView(e.Source), "via", via, "is", is)
	if len(e.Context) > 0 {
		c := array()
		for _, s := range e.Context {
			c.items = append(c.items, str(s))
		}
		v.items = append(v.items, str("context"), c)
	}
	if x := e.Exit; x != nil {
		xv := mapV("code", intV(int64(x.Code)), "signal", intV(int64(x.Signal)), "stderr", str(x.Stderr))
		if x.Host != "" {
			xv.items = append(xv.items, str("host"), str(x.Host))
		}
		v.items = append(v.items, str("exit"), xv)
	}
	if len(e.Group) > 0 {
		g := array()
		for _, m := range e.Group {
			g.items = append(g.items, errorView(m))
		}
		v.items = append(v.items, str("group"), g)
	}
	return v
}

func actorView(a transport.ActorID) value {
	v := mapV("name", str(a.Name), "id", str(a.ID), "pid", intV(int64(a.PID)))
	if a.Host != "" {
		v.items = append(v.items, str("host"), str(a.Host))
	}
	return v
}

func boolV(b bool) value { return value{kind: 'o', text: strconv.FormatBool(b)} }

// mapV builds a map value from alternating string keys and values.
func mapV(kv ...any) value {
	v := value{kind: '{'}
	for i := 0; i < len(kv); i += 2 {
		v.items = append(v.items, str(kv[i].(string)), kv[i+1].(value))
	}
	return v
}

// matchView checks that the fields DecodeMessage read (view) are the
// described message's (want). want may hold what this test does not know
// yet, and the view then lacks: envelope elements after the view's (top),
// map keys the view does not have. AppendFrame's exact bytes, checked
// beside this, show that such parts were read and kept.
func matchView(view, want value, top bool) error {
	switch {
	case view.kind != want.kind:
		return fmt.Errorf("read %s where the example has %s", view, want)
	case view.kind == '[':
		if len(view.items) > len(want.items) || !top && len(view.items) != len(want.items) {
			return fmt.Errorf("read %s where the example has %s", view, want)
		}
		for i := range view.items {
			if err := matchView(view.items[i], want.items[i], false); err != nil {
				return err
			}
		}
	case view.kind == '{':
		for i := 0; i < len(view.items); i += 2 {
			j := 0
			for j < len(want.items) && want.items[j].String() != view.items[i].String() {
				j += 2
			}
			if j >= len(want.items) {
				return fmt.Errorf("read key %s, which the example %s does not have", view.items[i], want)
			}
			if err := matchView(view.items[i+1], want.items[j+1], false); err != nil {
				return fmt.Errorf("key %s: %w", view.items[i], err)
			}
		}
	case view.text != want.text:
		return fmt.Errorf("read %s where the example has %s", view, want)
	}
	return nil
}
