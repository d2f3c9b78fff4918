// Command specgen writes amqp/wire/spec.go from the AMQP 0-9-1 spec XML that ships
// in the github.com/rabbitmq/amqp091-go module (spec/amqp0-9-1.stripped.extended.xml).
//
// It is run by `go generate ./amqp/wire` (see ../../gen.go) from the amqp/wire folder.
// The output depends only on the XML and this file, in document order, so running it
// twice gives the same bytes; CI checks that the committed spec.go is current.
//
// Flags: -spec PATH reads that XML instead of locating the module with `go list`;
// -out PATH writes there instead of ./spec.go.
package main

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// specFile is the spec's path inside the amqp091-go module.
const specFile = "spec/amqp0-9-1.stripped.extended.xml"

type amqpXML struct {
	Major     int           `xml:"major,attr"`
	Minor     int           `xml:"minor,attr"`
	Revision  int           `xml:"revision,attr"`
	Constants []constantXML `xml:"constant"`
	Domains   []domainXML   `xml:"domain"`
	Classes   []classXML    `xml:"class"`
}

type constantXML struct {
	Name  string `xml:"name,attr"`
	Value int    `xml:"value,attr"`
	Class string `xml:"class,attr"` // "soft-error", "hard-error" or ""
}

type domainXML struct {
	Name string `xml:"name,attr"`
	Type string `xml:"type,attr"`
}

type classXML struct {
	Name    string      `xml:"name,attr"`
	Index   int         `xml:"index,attr"`
	Methods []methodXML `xml:"method"`
}

type methodXML struct {
	Name    string     `xml:"name,attr"`
	Index   int        `xml:"index,attr"`
	Content string     `xml:"content,attr"` // "1" if the method carries content
	Fields  []fieldXML `xml:"field"`
}

type fieldXML struct {
	Name     string `xml:"name,attr"`
	Domain   string `xml:"domain,attr"`
	Type     string `xml:"type,attr"`
	Reserved string `xml:"reserved,attr"`
}

// extension is a RabbitMQ extension method (https://www.rabbitmq.com/docs/extensions)
// that warren must speak. The amqp091-go XML carries all of them; one missing from a
// future copy of the XML is added from this list so the generated API cannot lose it.
type extension struct {
	class       string
	classIndex  int
	method      methodXML
	afterMethod string // keep the definition next to its sibling
}

var extensions = []extension{
	{"connection", 10, methodXML{Name: "blocked", Index: 60, Fields: []fieldXML{{Name: "reason", Type: "shortstr"}}}, ""},
	{"connection", 10, methodXML{Name: "unblocked", Index: 61}, ""},
	{"connection", 10, methodXML{Name: "update-secret", Index: 70, Fields: []fieldXML{{Name: "new-secret", Type: "longstr"}, {Name: "reason", Type: "shortstr"}}}, ""},
	{"connection", 10, methodXML{Name: "update-secret-ok", Index: 71}, ""},
	{"exchange", 40, methodXML{Name: "bind", Index: 30, Fields: []fieldXML{
		{Name: "reserved-1", Type: "short", Reserved: "1"}, {Name: "destination", Type: "shortstr"}, {Name: "source", Type: "shortstr"},
		{Name: "routing-key", Type: "shortstr"}, {Name: "no-wait", Type: "bit"}, {Name: "arguments", Type: "table"}}}, ""},
	{"exchange", 40, methodXML{Name: "bind-ok", Index: 31}, ""},
	{"exchange", 40, methodXML{Name: "unbind", Index: 40, Fields: []fieldXML{
		{Name: "reserved-1", Type: "short", Reserved: "1"}, {Name: "destination", Type: "shortstr"}, {Name: "source", Type: "shortstr"},
		{Name: "routing-key", Type: "shortstr"}, {Name: "no-wait", Type: "bit"}, {Name: "arguments", Type: "table"}}}, ""},
	// RabbitMQ numbers exchange.unbind-ok 51, not 41 (rabbit_framing_amqp_0_9_1).
	{"exchange", 40, methodXML{Name: "unbind-ok", Index: 51}, ""},
	{"basic", 60, methodXML{Name: "nack", Index: 120, Fields: []fieldXML{
		{Name: "delivery-tag", Type: "longlong"}, {Name: "multiple", Type: "bit"}, {Name: "requeue", Type: "bit"}}}, ""},
	{"confirm", 85, methodXML{Name: "select", Index: 10, Fields: []fieldXML{{Name: "nowait", Type: "bit"}}}, ""},
	{"confirm", 85, methodXML{Name: "select-ok", Index: 11}, ""},
}

// fieldNames renames spec field names whose mechanical Go name would clash or read
// badly. class-id and method-id in connection.close and channel.close name the
// method that failed; ClassID and MethodID are taken by the Method interface.
var fieldNames = map[string]string{
	"class-id":  "FailingClassID",
	"method-id": "FailingMethodID",
	"nowait":    "NoWait", // confirm.select spells it without the dash
}

// methodNames are the Method interface's methods; a field may not use them.
var methodNames = map[string]bool{"ClassID": true, "MethodID": true, "Name": true, "HasContent": true, "Read": true, "Append": true}

func main() {
	log.SetFlags(0)
	log.SetPrefix("specgen: ")
	specPath := flag.String("spec", "", "spec XML (default: located in the amqp091-go module)")
	out := flag.String("out", "spec.go", "output file")
	flag.Parse()

	if *specPath == "" {
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/rabbitmq/amqp091-go").Output()
		if err != nil {
			log.Fatalf("locating amqp091-go: %v", err)
		}
		*specPath = filepath.Join(strings.TrimSpace(string(dir)), filepath.FromSlash(specFile))
	}
	raw, err := os.ReadFile(*specPath)
	if err != nil {
		log.Fatal(err)
	}
	src, err := generate(raw)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// spec is the parsed XML with field types resolved and extensions merged.
type spec struct {
	constants []constantXML
	classes   []class
}

type class struct {
	name    string
	index   int
	methods []method
}

type method struct {
	class   *class
	name    string
	index   int
	content bool
	fields  []field
}

type field struct {
	name     string // spec name, e.g. "routing-key"
	typ      string // resolved base type: bit, octet, short, long, longlong, timestamp, shortstr, longstr, table
	reserved bool
}

func parse(raw []byte) (*spec, error) {
	var doc amqpXML
	if err := xml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing spec XML: %w", err)
	}
	if doc.Major != 0 || doc.Minor != 9 || doc.Revision != 1 {
		return nil, fmt.Errorf("spec is %d-%d-%d, want 0-9-1", doc.Major, doc.Minor, doc.Revision)
	}
	domains := map[string]string{}
	for _, t := range []string{"bit", "octet", "short", "long", "longlong", "timestamp", "shortstr", "longstr", "table"} {
		domains[t] = t
	}
	for _, d := range doc.Domains {
		domains[d.Name] = d.Type
	}
	for _, e := range extensions {
		addExtension(&doc, e)
	}
	s := &spec{constants: doc.Constants}
	for _, cx := range doc.Classes {
		s.classes = append(s.classes, class{name: cx.Name, index: cx.Index})
		c := &s.classes[len(s.classes)-1]
		for _, mx := range cx.Methods {
			m := method{name: mx.Name, index: mx.Index, content: mx.Content == "1"}
			for _, fx := range mx.Fields {
				name := fx.Domain
				if name == "" {
					name = fx.Type
				}
				typ, ok := domains[name]
				if !ok {
					return nil, fmt.Errorf("%s.%s: field %s has unknown domain %q", cx.Name, mx.Name, fx.Name, name)
				}
				m.fields = append(m.fields, field{name: fx.Name, typ: typ, reserved: fx.Reserved == "1"})
			}
			c.methods = append(c.methods, m)
		}
	}
	for i := range s.classes {
		for j := range s.classes[i].methods {
			s.classes[i].methods[j].class = &s.classes[i]
		}
	}
	return s, nil
}

// addExtension adds e to doc unless the XML already defines that method.
func addExtension(doc *amqpXML, e extension) {
	for i := range doc.Classes {
		c := &doc.Classes[i]
		if c.Name != e.class {
			continue
		}
		for _, m := range c.Methods {
			if m.Name == e.method.Name {
				return
			}
		}
		c.Methods = append(c.Methods, e.method)
		return
	}
	doc.Classes = append(doc.Classes, classXML{Name: e.class, Index: e.classIndex, Methods: []methodXML{e.method}})
}

// goName turns a spec name ("start-ok", "consumer-tag") into a Go name ("StartOk", "ConsumerTag").
func goName(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' || r == '_' }) {
		if w == "id" {
			b.WriteString("ID")
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

func (m *method) goName() string   { return goName(m.class.name) + goName(m.name) }
func (m *method) specName() string { return m.class.name + "." + m.name }
func (m *method) varName() string  { n := m.goName(); return strings.ToLower(n[:1]) + n[1:] }

func fieldGoName(f field) string {
	if n, ok := fieldNames[f.name]; ok {
		return n
	}
	return goName(f.name)
}

var goTypes = map[string]string{
	"bit": "bool", "octet": "uint8", "short": "uint16", "long": "uint32", "longlong": "uint64",
	"timestamp": "uint64", "shortstr": "string", "longstr": "string", "table": "Table",
}

type gen struct {
	bytes.Buffer
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.Buffer, format, args...)
	g.WriteByte('\n')
}

func generate(raw []byte) ([]byte, error) {
	s, err := parse(raw)
	if err != nil {
		return nil, err
	}
	var g gen
	g.p("// Code generated by specgen; DO NOT EDIT.")
	g.p("")
	g.p("// Source: %s in github.com/rabbitmq/amqp091-go, plus RabbitMQ's extensions", specFile)
	g.p("// (confirm, basic.nack, exchange.bind/unbind, connection.blocked/unblocked/update-secret).")
	g.p("")
	g.p("package wire")
	g.p("")
	g.p("// Constants of the AMQP 0-9-1 spec: frame types and sizes, and reply codes.")
	g.p("const (")
	for _, c := range s.constants {
		switch c.Class {
		case "soft-error":
			g.p("%s = %d // soft-error: closes the channel by default", goName(c.Name), c.Value)
		case "hard-error":
			g.p("%s = %d // hard-error: closes the connection", goName(c.Name), c.Value)
		default:
			g.p("%s = %d", goName(c.Name), c.Value)
		}
	}
	g.p(")")
	g.p("")

	g.p("// ReplyName returns the spec's name of a reply code in RabbitMQ's spelling")
	g.p(`// ("NOT_FOUND"), or "" for a code the spec does not define.`)
	g.p("func ReplyName(code uint16) string {")
	g.p("switch code {")
	for _, c := range s.constants {
		if c.Class == "" && c.Name != "reply-success" {
			continue
		}
		g.p("case %s:", goName(c.Name))
		g.p("return %q", strings.ToUpper(strings.ReplaceAll(c.Name, "-", "_")))
	}
	g.p("}")
	g.p(`return ""`)
	g.p("}")
	g.p("")
	g.p("// IsHardCode reports whether the spec classes code as a hard error (one that closes")
	g.p("// the connection) rather than a soft one (one that closes the channel). It is a")
	g.p("// default: the raiser of an exception decides its scope (403 in connection.open is hard).")
	g.p("func IsHardCode(code uint16) bool {")
	g.p("switch code {")
	var hard []string
	for _, c := range s.constants {
		if c.Class == "hard-error" {
			hard = append(hard, goName(c.Name))
		}
	}
	g.p("case %s:", strings.Join(hard, ", "))
	g.p("return true")
	g.p("}")
	g.p("return false")
	g.p("}")
	g.p("")

	g.p("// Class ids.")
	g.p("const (")
	for _, c := range s.classes {
		g.p("Class%s = %d", goName(c.name), c.index)
	}
	g.p(")")
	g.p("")
	g.p("// Method ids, unique within their class.")
	g.p("const (")
	for _, c := range s.classes {
		for _, m := range c.methods {
			g.p("Method%s = %d", m.goName(), m.index)
		}
	}
	g.p(")")
	g.p("")

	g.p("// MethodName returns the spec name of a method (\"basic.publish\"), or \"\" if unknown.")
	g.p("func MethodName(classID, methodID uint16) string {")
	g.p("switch uint32(classID)<<16 | uint32(methodID) {")
	for _, c := range s.classes {
		for _, m := range c.methods {
			g.p("case Class%s<<16 | Method%s:", goName(c.name), m.goName())
			g.p("return %q", m.specName())
		}
	}
	g.p("}")
	g.p(`return ""`)
	g.p("}")
	g.p("")

	// Methods: one reusable value of every method.
	g.p("// Methods holds one reusable value of every method: one per connection, owned by its")
	g.p("// read loop. Decode fills the matching value and returns a pointer to it, valid until")
	g.p("// the next Decode. A shortstr or longstr field keeps its previous string when the")
	g.p("// bytes are equal, so decoding repeating exchanges, routing keys and consumer tags")
	g.p("// allocates nothing. Tables are allocated afresh on each Decode: callers may keep them.")
	g.p("type Methods struct {")
	for _, c := range s.classes {
		for _, m := range c.methods {
			g.p("%s %s", m.varName(), m.goName())
		}
	}
	g.p("}")
	g.p("")
	g.p("// lookup returns ms's value of the method, or nil if the ids are unknown.")
	g.p("func (ms *Methods) lookup(classID, methodID uint16) Method {")
	g.p("switch uint32(classID)<<16 | uint32(methodID) {")
	for _, c := range s.classes {
		for _, m := range c.methods {
			g.p("case Class%s<<16 | Method%s:", goName(c.name), m.goName())
			g.p("return &ms.%s", m.varName())
		}
	}
	g.p("}")
	g.p("return nil")
	g.p("}")
	g.p("")
	g.p("// newMethod returns a fresh zero value of the method, or nil if the ids are unknown.")
	g.p("func newMethod(classID, methodID uint16) Method {")
	g.p("switch uint32(classID)<<16 | uint32(methodID) {")
	for _, c := range s.classes {
		for _, m := range c.methods {
			g.p("case Class%s<<16 | Method%s:", goName(c.name), m.goName())
			g.p("return new(%s)", m.goName())
		}
	}
	g.p("}")
	g.p("return nil")
	g.p("}")
	g.p("")

	for ci := range s.classes {
		for mi := range s.classes[ci].methods {
			if err := g.method(&s.classes[ci].methods[mi]); err != nil {
				return nil, err
			}
		}
	}

	src, err := format.Source(g.Bytes())
	if err != nil {
		return g.Bytes(), fmt.Errorf("formatting output: %w", err)
	}
	return src, nil
}

// bitGroups packs consecutive bit fields into octets, at most 8 per octet
// (AMQP 0-9-1 §4.2.5.2: bits are accumulated into whole octets, least significant first).
// It returns, per field, its octet group number (or -1) and its bit position.
func bitGroups(fields []field) (group, pos []int) {
	group, pos = make([]int, len(fields)), make([]int, len(fields))
	g, n := -1, 8
	for i, f := range fields {
		if f.typ != "bit" {
			group[i], n = -1, 8
			continue
		}
		if n == 8 {
			g, n = g+1, 0
		}
		group[i], pos[i] = g, n
		n++
	}
	return group, pos
}

func (g *gen) method(m *method) error {
	name := m.goName()
	cls, mid := "Class"+goName(m.class.name), "Method"+name
	group, pos := bitGroups(m.fields)
	// used[g] is whether bit octet g holds a field that is not reserved.
	used := map[int]bool{}
	for i, f := range m.fields {
		if f.typ == "bit" && !f.reserved {
			used[group[i]] = true
		}
	}

	dir := ""
	if m.content {
		dir = " It is followed by a content header and body frames."
	}
	g.p("// %s is %s (class %d, method %d).%s", name, m.specName(), m.class.index, m.index, dir)
	if !hasArgs(m.fields) {
		g.p("type %s struct{}", name)
		g.p("")
	} else {
		g.p("type %s struct {", name)
	}
	seen := map[string]bool{}
	for _, f := range m.fields {
		if f.reserved {
			continue
		}
		fn := fieldGoName(f)
		if methodNames[fn] || seen[fn] {
			return fmt.Errorf("%s: field name %s clashes; add it to fieldNames", m.specName(), fn)
		}
		seen[fn] = true
		g.p("%s %s // %s (%s)", fn, goTypes[f.typ], f.name, f.typ)
	}
	if hasArgs(m.fields) {
		g.p("}")
		g.p("")
	}
	g.p("// ClassID returns %d (%s).", m.class.index, m.class.name)
	g.p("func (*%s) ClassID() uint16 { return %s }", name, cls)
	g.p("")
	g.p("// MethodID returns %d.", m.index)
	g.p("func (*%s) MethodID() uint16 { return %s }", name, mid)
	g.p("")
	g.p("// Name returns %q.", m.specName())
	g.p("func (*%s) Name() string { return %q }", name, m.specName())
	g.p("")
	g.p("// HasContent reports whether content frames follow the method: %v.", m.content)
	g.p("func (*%s) HasContent() bool { return %v }", name, m.content)
	g.p("")

	// Read.
	recv := "m"
	if !hasArgs(m.fields) {
		recv = "_"
	}
	g.p("// Read decodes the arguments (the bytes after the class and method ids) into m.")
	g.p("func (%s *%s) Read(args []byte) error {", recv, name)
	g.p("d := decoder{b: args}")
	// RabbitMQ checks that shortstr fields are UTF-8 in methods without content only
	// ("a sanity check, not a security thing": rabbit_common/codegen.py).
	checkUTF8 := !m.content
	for i, f := range m.fields {
		fn := fieldGoName(f)
		if f.typ == "bit" {
			switch {
			case !used[group[i]] && pos[i] == 0:
				g.p("d.skip(1) // reserved bits")
			case !used[group[i]]:
			case pos[i] == 0:
				g.p("bits%d := d.octet()", group[i])
			}
			if !f.reserved {
				g.p("m.%s = bits%d&(1<<%d) != 0", fn, group[i], pos[i])
			}
			continue
		}
		if f.reserved {
			switch f.typ {
			case "shortstr":
				g.p("d.shortbytes() // %s", f.name)
			case "longstr":
				g.p("d.longbytes() // %s", f.name)
			default:
				g.p("d.skip(%d) // %s", fixedSize(f.typ), f.name)
			}
			continue
		}
		switch f.typ {
		case "octet":
			g.p("m.%s = d.octet()", fn)
		case "short":
			g.p("m.%s = d.short()", fn)
		case "long":
			g.p("m.%s = d.long()", fn)
		case "longlong", "timestamp":
			g.p("m.%s = d.longlong()", fn)
		case "shortstr":
			if checkUTF8 {
				g.p("m.%s = d.shortstrUTF8(m.%s)", fn, fn)
			} else {
				g.p("m.%s = d.shortstr(m.%s)", fn, fn)
			}
		case "longstr":
			g.p("m.%s = d.longstr(m.%s)", fn, fn)
		case "table":
			g.p("m.%s = d.table()", fn)
		default:
			return fmt.Errorf("%s: unsupported type %s", m.specName(), f.typ)
		}
	}
	g.p("return d.finish(%s, %s)", cls, mid)
	g.p("}")
	g.p("")

	// Append.
	g.p("// Append appends the class id, method id and arguments of m to dst.")
	if hasTable(m.fields) {
		g.p("// It panics if a table holds a Go type that AppendTable rejects.")
	}
	g.p("func (%s *%s) Append(dst []byte) []byte {", recv, name)
	g.p("dst = appendShort(dst, %s)", cls)
	g.p("dst = appendShort(dst, %s)", mid)
	for i, f := range m.fields {
		fn := fieldGoName(f)
		if f.typ == "bit" {
			last := i+1 == len(m.fields) || group[i+1] != group[i]
			if !used[group[i]] {
				if last {
					g.p("dst = append(dst, 0) // reserved bits")
				}
				continue
			}
			if pos[i] == 0 {
				g.p("var bits%d uint8", group[i])
			}
			if !f.reserved {
				g.p("if m.%s {", fn)
				g.p("bits%d |= 1 << %d", group[i], pos[i])
				g.p("}")
			}
			if last {
				g.p("dst = append(dst, bits%d)", group[i])
			}
			continue
		}
		if f.reserved {
			switch f.typ {
			case "shortstr":
				g.p("dst = append(dst, 0) // %s", f.name)
			case "longstr":
				g.p("dst = append(dst, 0, 0, 0, 0) // %s", f.name)
			case "short":
				g.p("dst = appendShort(dst, 0) // %s", f.name)
			default:
				g.p("dst = append(dst, make([]byte, %d)...) // %s", fixedSize(f.typ), f.name)
			}
			continue
		}
		switch f.typ {
		case "octet":
			g.p("dst = append(dst, m.%s)", fn)
		case "short":
			g.p("dst = appendShort(dst, m.%s)", fn)
		case "long":
			g.p("dst = appendLong(dst, m.%s)", fn)
		case "longlong", "timestamp":
			g.p("dst = appendLonglong(dst, m.%s)", fn)
		case "shortstr":
			g.p("dst = appendShortstr(dst, m.%s)", fn)
		case "longstr":
			g.p("dst = appendLongstr(dst, m.%s)", fn)
		case "table":
			g.p("dst = mustAppendTable(dst, m.%s, %q)", fn, m.specName()+" "+f.name)
		}
	}
	g.p("return dst")
	g.p("}")
	g.p("")
	return nil
}

// hasArgs reports whether the method has a field that is not reserved.
func hasArgs(fields []field) bool {
	for _, f := range fields {
		if !f.reserved {
			return true
		}
	}
	return false
}

func hasTable(fields []field) bool {
	for _, f := range fields {
		if f.typ == "table" && !f.reserved {
			return true
		}
	}
	return false
}

func fixedSize(typ string) int {
	switch typ {
	case "octet":
		return 1
	case "short":
		return 2
	case "long":
		return 4
	case "longlong", "timestamp":
		return 8
	}
	panic("specgen: no fixed size for " + typ)
}
