package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML library reports a value of the wrong type and an unknown key in
// its own words, or without a line. These helpers find the key and its line
// through the library's metadata, so that vigil's messages say both.

// tomlTypes names what each TOML type is called in messages, by the names
// toml.MetaData.Type returns.
var tomlTypes = map[string]string{
	"String": "a string", "Integer": "an integer", "Float": "a number with a fraction",
	"Bool": "true or false", "Datetime": "a date", "Array": "a list",
	"Hash": "a table", "ArrayHash": "a list of tables",
	"Duration": `a duration in quotes, such as "10m"`, // a String
}

// textUnmarshaler is what a duration is: written as a string.
var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// wantType is the TOML type a Go field is decoded from, as
// toml.MetaData.Type names it (but "Duration" for a duration, a String);
// "" for any.
func wantType(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "Duration"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return wantType(t.Elem())
	case reflect.String:
		return "String"
	case reflect.Int:
		return "Integer"
	case reflect.Bool:
		return "Bool"
	case reflect.Struct:
		return "Hash"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "ArrayHash"
		}
		return "Array"
	}
	return ""
}

// fieldType is the type of the field of t (a struct) that key names, or
// nil for a key it does not have.
func fieldType(t reflect.Type, key toml.Key) reflect.Type {
	for _, name := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil
		}
		t = f.Type
	}
	return t
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// typeError explains a failed decode of text into f in vigil's words: the
// first key whose value has the wrong type, and its line. ok is false when
// no key's type is wrong, and the library's error should stand.
func typeError(text string, md toml.MetaData) (err error, ok bool) {
	for _, key := range md.Keys() {
		t := fieldType(reflect.TypeFor[file](), key)
		if t == nil {
			continue
		}
		want, got := wantType(t), md.Type(key...)
		if want == "Array" && got == "Array" && t.Elem().Kind() == reflect.String {
			if e := nonString(text, key); e != "" {
				return fmt.Errorf("%s%s: want a list of strings, not a list holding %s", linePrefix(text, md, key), key, e), true
			}
		}
		if want == "" || want == got || want == "Duration" && got == "String" {
			continue
		}
		return fmt.Errorf("%s%s: want %s, not %s", linePrefix(text, md, key), key, tomlTypes[want], tomlTypes[got]), true
	}
	return nil, false
}

// nonString names the type of the first element of the list at key that
// is not a string, or returns "": the metadata has no types for elements.
func nonString(text string, key toml.Key) string {
	var m map[string]any
	if _, err := toml.Decode(text, &m); err != nil {
		return ""
	}
	for _, v := range values(m, key) {
		list, _ := v.([]any)
		for _, e := range list {
			switch e.(type) {
			case string:
			case int64:
				return tomlTypes["Integer"]
			case float64:
				return tomlTypes["Float"]
			case bool:
				return tomlTypes["Bool"]
			case []any:
				return tomlTypes["Array"]
			case map[string]any:
				return tomlTypes["Hash"]
			default:
				return tomlTypes["Datetime"]
			}
		}
	}
	return ""
}

// values are the values of key in v, one for each table of a list of
// tables on the way.
func values(v any, key toml.Key) []any {
	if len(key) == 0 {
		return []any{v}
	}
	switch v := v.(type) {
	case map[string]any:
		if x, ok := v[key[0]]; ok {
			return values(x, key[1:])
		}
	case []map[string]any:
		var all []any
		for _, m := range v {
			all = append(all, values(m, key)...)
		}
		return all
	}
	return nil
}

// probe refuses to be decoded: decoding a file into a struct that has one
// probe, at the place of a key, makes the library report that key's line.
type probe struct{}

var errProbe = errors.New("probe")

func (*probe) UnmarshalTOML(any) error { return errProbe }

// keyLine is the line where key is set in text, or 0 if the library does
// not say.
func keyLine(text string, md toml.MetaData, key toml.Key) int {
	t := reflect.TypeFor[probe]()
	for i := len(key) - 1; i >= 0; i-- {
		if i < len(key)-1 && md.Type(key[:i+1]...) == "ArrayHash" {
			t = reflect.SliceOf(t)
		}
		t = reflect.StructOf([]reflect.StructField{{Name: "F", Type: t, Tag: reflect.StructTag("toml:" + strconv.Quote(key[i]))}})
	}
	_, err := toml.Decode(text, reflect.New(t).Interface())
	var perr toml.ParseError
	if errors.As(err, &perr) && perr.Message == errProbe.Error() {
		return perr.Position.Line
	}
	return 0
}

// linePrefix is "line N: " for the line where key is set, or "".
func linePrefix(text string, md toml.MetaData, key toml.Key) string {
	if n := keyLine(text, md, key); n > 0 {
		return fmt.Sprintf("line %d: ", n)
	}
	return ""
}
