package cargo

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// The seed corpora in testdata/fuzz hold every line captured from cargo 1.95.

func FuzzDecodeRequest(f *testing.F) {
	for _, tt := range capturedRequests {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil {
			return
		}
		enc, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		if bytes.IndexByte(enc, '\n') != len(enc)-1 {
			t.Fatalf("encoded request is not one line: %q", enc)
		}
		back, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("encoded request does not decode: %v\n%s", err, enc)
		}
		if !back.Token.Equal(req.Token) {
			t.Fatal("token changed in the round trip")
		}
		back.Token, req.Token = req.Token, back.Token
		norm := func(r *Request) {
			if len(r.Args) == 0 {
				r.Args = nil
			}
			if len(r.Registry.Headers) == 0 {
				r.Registry.Headers = nil
			}
		}
		norm(req)
		norm(back)
		if !reflect.DeepEqual(req, back) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", req, back)
		}
		enc2, _ := EncodeRequest(back)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range capturedResponses {
		f.Add([]byte(s))
	}
	for _, s := range capturedErrors {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := DecodeResponse(line)
		var e *Error
		switch {
		case errors.As(err, &e):
			if r != nil {
				t.Fatal("both a response and an error")
			}
			back, err := DecodeResponse(EncodeError(e))
			var e2 *Error
			if !errors.As(err, &e2) || back != nil || e2.Kind != e.Kind && e.Kind != "" {
				t.Fatalf("error round trip: %v", err)
			}
		case err != nil:
			return
		default:
			enc, err := EncodeResponse(r)
			if err != nil {
				return // an unknown kind or cache value: decoded, but not ours to send
			}
			back, err := DecodeResponse(enc)
			if err != nil {
				t.Fatalf("encoded response does not decode: %v", err)
			}
			if back.Kind != r.Kind || !back.Token.Equal(r.Token) || back.Cache != r.Cache ||
				!back.Expiration.Equal(r.Expiration) || back.OperationIndependent != r.OperationIndependent {
				t.Fatalf("round trip: %+v -> %+v", r, back)
			}
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	f.Add(EncodeHello())
	f.Add([]byte(`{"v":[1,2],"extra":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		h, err := DecodeHello(line)
		if err != nil {
			return
		}
		h.Supports(ProtocolVersion)
	})
}
