package exchange

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file renders field values the way RabbitMQ's error texts show them:
// the type names rabbit_binary_parser gives each field type, and Erlang's
// "~tp" rendering of the decoded value.

// typeName returns rabbit_binary_parser's name for the AMQP type of v.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "void"
	case bool:
		return "bool"
	case int8:
		return "byte"
	case uint8:
		return "unsignedbyte"
	case int16:
		return "short"
	case uint16:
		return "unsignedshort"
	case int32:
		return "signedint"
	case uint32:
		return "unsignedint"
	case int64, int, uint64, uint:
		return "long"
	case float32:
		return "float"
	case float64:
		return "double"
	case string:
		return "longstr"
	case []byte:
		return "binary"
	case time.Time:
		return "timestamp"
	case []any:
		return "array"
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Map:
		return "table"
	case reflect.Slice:
		return "array"
	case reflect.Struct:
		if isDecimal(rv) {
			return "decimal"
		}
	}
	return fmt.Sprintf("%T", v)
}

// isDecimal recognises the codec's decimal type, a struct with an unsigned
// Scale and an integer Value, without importing it.
func isDecimal(rv reflect.Value) bool {
	s, v := rv.FieldByName("Scale"), rv.FieldByName("Value")
	return rv.NumField() == 2 && s.IsValid() && v.IsValid() && s.CanUint() && v.CanInt()
}

// erlTerm renders the value rabbit_binary_parser decodes v to as Erlang's ~tp does.
func erlTerm(v any) string {
	var b strings.Builder
	writeTerm(&b, v)
	return b.String()
}

func writeTerm(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("undefined")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeBinary(b, []byte(x))
	case []byte:
		writeBinary(b, x)
	case float32:
		b.WriteString(erlFloat(float64(x)))
	case float64:
		b.WriteString(erlFloat(x))
	case time.Time:
		b.WriteString(strconv.FormatInt(x.Unix(), 10))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, "{%s,", typeName(e))
			writeTerm(b, e)
			b.WriteByte('}')
		}
		b.WriteByte(']')
	default:
		if s := scalarOf(v); s.kind == kInt {
			b.WriteString(strconv.FormatInt(int64(s.bits), 10))
			return
		} else if s.kind == kUint {
			b.WriteString(strconv.FormatUint(s.bits, 10))
			return
		}
		rv := reflect.ValueOf(v)
		switch {
		case rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String:
			// A table: [{Key,Type,Value}], shown in key order.
			keys := rv.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			b.WriteByte('[')
			for i, k := range keys {
				if i > 0 {
					b.WriteByte(',')
				}
				e := rv.MapIndex(k).Interface()
				b.WriteByte('{')
				writeBinary(b, []byte(k.String()))
				fmt.Fprintf(b, ",%s,", typeName(e))
				writeTerm(b, e)
				b.WriteByte('}')
			}
			b.WriteByte(']')
		case rv.Kind() == reflect.Slice:
			elems := make([]any, rv.Len())
			for i := range elems {
				elems[i] = rv.Index(i).Interface()
			}
			writeTerm(b, elems)
		case rv.Kind() == reflect.Struct && isDecimal(rv):
			// rabbit_binary_parser: {decimal, {Before, After}}; the value is the pair.
			fmt.Fprintf(b, "{%d,%d}", rv.FieldByName("Scale").Uint(), uint32(rv.FieldByName("Value").Int()))
		default:
			fmt.Fprintf(b, "%v", v)
		}
	}
}

// writeBinary renders an Erlang binary: <<"text">> when printable Latin-1
// text, <<"text"/utf8>> when printable UTF-8, else its bytes <<1,2,3>>.
func writeBinary(b *strings.Builder, p []byte) {
	if len(p) == 0 {
		b.WriteString("<<>>")
		return
	}
	ascii, printable := true, utf8.Valid(p)
	for _, r := range string(p) {
		if r >= 0x80 {
			ascii = false
		}
		if r < 0x20 && !strings.ContainsRune("\n\r\t\v\b\f\x1b", r) || r == 0x7f || r == utf8.RuneError {
			printable = false
		}
	}
	if !printable {
		b.WriteString("<<")
		for i, c := range p {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(c)))
		}
		b.WriteString(">>")
		return
	}
	b.WriteString(`<<"`)
	for _, r := range string(p) {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case 0x1b:
			b.WriteString(`\e`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	if !ascii {
		b.WriteString("/utf8")
	}
	b.WriteString(">>")
}

// erlFloat renders a float as Erlang's shortest round-trip form does
// (io_lib_format:fwrite_g): always a fraction digit, exponents as "e-5".
func erlFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	exp := 0
	if f != 0 {
		exp = int(math.Floor(math.Log10(math.Abs(f))))
	}
	if exp < -4 || exp >= 21 {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, 1.5e-05
		mant, e, _ := strings.Cut(s, "e")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		n, _ := strconv.Atoi(e)
		return mant + "e" + strconv.Itoa(n)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
