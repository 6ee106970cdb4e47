package jsonwire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
		{"<&>", `"<&>"`},
		{"é\u2028😀", "\"é\u2028😀\""},
		{"/", `"/"`},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestObject(t *testing.T) {
	o := NewObject()
	o.Int("v", 1)
	o.Object("registry", func(r *Object) {
		r.String("index-url", "sparse+http://127.0.0.1:8765/index/")
		r.Strings("headers", []string{"A: b"})
	})
	o.Bool("b", false)
	o.Ints("n", []int64{1, 2})
	o.Strings("e", nil)
	got, err := o.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"registry":{"index-url":"sparse+http://127.0.0.1:8765/index/","headers":["A: b"]},"b":false,"n":[1,2],"e":[]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	o = NewObject()
	o.Object("x", func(r *Object) { r.String("k", "\xff") })
	if _, err := o.Bytes(); err == nil {
		t.Error("invalid UTF-8 was accepted")
	}
}

func TestParseObject(t *testing.T) {
	bad := []string{
		``, `null`, `[]`, `"s"`, `{`, `{"a":1`, `{"a":1}x`, `{"a":1}{}`, `{"a":1,"a":2}`,
		`{"a":1,"\u0061":2}`, "{\"a\":\"\xff\"}", `{"a":}`, `{1:2}`,
	}
	for _, s := range bad {
		if _, err := ParseObject([]byte(s)); err == nil {
			t.Errorf("ParseObject(%q) succeeded", s)
		}
	}
	f, err := ParseObject([]byte(" {\"Kind\":\"x\",\"kind\":\"get\",\"n\":null,\"s\":[\"a\"],\"i\":-3,\"f\":1.5,\"b\":true,\"o\":{\"k\":\"v\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok, err := f.String("kind"); s != "get" || !ok || err != nil {
		t.Errorf("kind = %q %v %v (keys must match exactly)", s, ok, err)
	}
	if _, ok, err := f.String("n"); !ok || err == nil {
		t.Error("null was taken as a string")
	}
	if _, ok, err := f.OptString("n"); ok || err != nil {
		t.Error("OptString: null is not absent")
	}
	if s, ok, err := f.OptString("kind"); s != "get" || !ok || err != nil {
		t.Error("OptString: string")
	}
	if _, ok, err := f.OptString("i"); !ok || err == nil {
		t.Error("OptString accepted a number")
	}
	if _, ok, err := f.String("missing"); ok || err != nil {
		t.Error("missing field reported present")
	}
	if v, _, err := f.Strings("s"); err != nil || len(v) != 1 || v[0] != "a" {
		t.Errorf("Strings = %v %v", v, err)
	}
	if _, _, err := f.Strings("i"); err == nil {
		t.Error("Strings accepted a number")
	}
	if n, _, err := f.Int("i"); n != -3 || err != nil {
		t.Errorf("Int = %d %v", n, err)
	}
	if _, _, err := f.Int("f"); err == nil {
		t.Error("Int accepted 1.5")
	}
	if b, _, err := f.Bool("b"); !b || err != nil {
		t.Error("Bool")
	}
	if _, _, err := f.Bool("i"); err == nil {
		t.Error("Bool accepted a number")
	}
	if o, _, err := f.Object("o"); err != nil || o == nil {
		t.Errorf("Object = %v", err)
	} else if v, _, _ := o.String("k"); v != "v" {
		t.Errorf("nested = %q", v)
	}
	if _, _, err := f.Object("s"); err == nil {
		t.Error("Object accepted an array")
	}
	// Error messages name the field, never the value.
	f, _ = ParseObject([]byte(`{"token":12345678}`))
	if _, _, err := f.String("token"); err == nil || strings.Contains(err.Error(), "12345678") {
		t.Errorf("error = %v", err)
	}
	if _, err := ParseObject([]byte(`{"token":"s3cret"`)); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %v", err)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\\n\x00\x7f", "é\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		if !utf8.ValidString(s) {
			return
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if back != s {
			t.Fatalf("round trip %q -> %s -> %q", s, b, back)
		}
		f, err := ParseObject([]byte(`{"k":` + string(b) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := f.String("k"); err != nil || got != s {
			t.Fatalf("ParseObject round trip: %q %v", got, err)
		}
	})
}

func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"x",null]}}`, `{"a":1,"a":2}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := ParseObject(data)
		if err != nil {
			return
		}
		// What parses must be an object encoding/json agrees with.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("ParseObject accepted what encoding/json refuses: %v", err)
		}
		if len(m) != len(fields) {
			t.Fatalf("%d fields, encoding/json has %d", len(fields), len(m))
		}
		for k := range fields {
			fields.String(k)
			fields.Strings(k)
			fields.Int(k)
			fields.Ints(k)
			fields.Bool(k)
			fields.Object(k)
		}
	})
}
