package wire

import "encoding/binary"

// Method is one AMQP method: the generated structs in spec.go implement it.
type Method interface {
	ClassID() uint16
	MethodID() uint16
	Name() string     // "basic.publish"
	HasContent() bool // basic.publish, basic.return, basic.deliver, basic.get-ok
	// Read decodes the arguments (the bytes after the class and method ids) into the
	// value, replacing every field. Errors are *Exception.
	Read(args []byte) error
	// Append appends the class id, method id and arguments.
	Append(dst []byte) []byte
}

// Decode decodes a method frame's payload into ms's value of that method and returns
// it; the value is valid until the next Decode. Errors are *Exception: SyntaxError
// (502) for a payload shorter than the ids or arguments that are truncated, overlong
// or hold a bad table; NotImplemented (540) for unknown class or method ids.
func (ms *Methods) Decode(payload []byte) (Method, error) {
	if len(payload) < 4 {
		return nil, Hard(FrameError, "method frame payload of %d bytes has no class and method id", len(payload))
	}
	classID := binary.BigEndian.Uint16(payload[0:2])
	methodID := binary.BigEndian.Uint16(payload[2:4])
	m := ms.lookup(classID, methodID)
	if m == nil {
		return nil, unknownMethod(classID, methodID)
	}
	if err := m.Read(payload[4:]); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeMethod is Decode into a fresh value, which the caller may keep.
func DecodeMethod(payload []byte) (Method, error) {
	if len(payload) < 4 {
		return nil, Hard(FrameError, "method frame payload of %d bytes has no class and method id", len(payload))
	}
	classID := binary.BigEndian.Uint16(payload[0:2])
	methodID := binary.BigEndian.Uint16(payload[2:4])
	m := newMethod(classID, methodID)
	if m == nil {
		return nil, unknownMethod(classID, methodID)
	}
	if err := m.Read(payload[4:]); err != nil {
		return nil, err
	}
	return m, nil
}

func unknownMethod(classID, methodID uint16) *Exception {
	e := Hard(NotImplemented, "unknown method class %d, method %d", classID, methodID)
	e.ClassID, e.MethodID = classID, methodID
	return e
}
