// Package wire is warren's AMQP 0-9-1 codec: frames, every class and method of the
// spec plus RabbitMQ's extensions (generated into spec.go by internal/specgen), field
// tables and arrays, the content header and its 14 basic properties, reply codes and
// the Exception type that carries them.
//
// It imports only the standard library, does no I/O of its own beyond reading frames
// from the io.Reader it is given, and has no locks: every value here is owned by one
// goroutine at a time (a connection's read loop owns its FrameReader and Methods; a
// writer owns the byte slices it appends to). Lock order: none.
//
// # Views and allocation
//
// Decoding works on byte slices. A Frame's Payload, a ContentHeader's Props and the
// slices its accessors return are views into the FrameReader's buffers, valid until the
// next FrameReader.Next: copy what must outlive the frame. The hot path (FrameReader.Next,
// Methods.Decode of basic.publish / basic.ack, ParseContentHeader and the property
// accessors, AppendMethodFrame / AppendHeaderFrame / AppendBodyFrames into a buffer with
// room) allocates nothing in steady state; the tests hold it to that.
//
// # Types chosen for spec domains
//
// octet uint8, short uint16, long uint32, longlong uint64, bit bool, shortstr string,
// longstr string (connection.start's mechanisms and locales, start-ok's response: the
// bytes unchanged), table Table. No method has a timestamp argument; the timestamp
// property and the 'T' table tag are time.Time in UTC with one-second resolution.
// Reserved arguments are not struct fields: they are skipped on decode and written as
// zero. connection.close and channel.close name the failing method FailingClassID and
// FailingMethodID because ClassID and MethodID are the Method interface's.
//
// # Errors
//
// Malformed input yields a hard *Exception whose Code is the reply code to send:
// FrameError (501) for framing (size over frame-max, unknown type, bad end octet, a
// heartbeat with a payload), for method arguments that are truncated or followed by
// extra bytes (RabbitMQ 3.10.8 answers "FRAME_ERROR - cannot decode ...", checked
// with amqp's TestBadInput against it), and for a shortstr that is not UTF-8 in a
// method without content (RabbitMQ's assert_utf8); SyntaxError (502) for bad field
// tables (unknown type tag, nesting deeper than MaxTableDepth) and bad property
// lists; NotImplemented (540) for unknown class or method ids. I/O errors from the
// underlying reader are returned unchanged (io.EOF, io.ErrUnexpectedEOF, net errors)
// so a peer that left is not mistaken for a protocol error.
//
// Where this differs from RabbitMQ: an unknown class or method id and an unknown
// table tag make RabbitMQ drop the socket without an AMQP error; this package
// answers 540 and 502. RabbitMQ ignores property flag bit 0 (the continuation bit),
// which this package refuses with 502. The codes are set in codec.go
// (decoder.need, decoder.finish), table.go (errTag) and header.go.
package wire
