package store

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes; see doc.go for the layout.
const (
	prefixEntity  = 'e'
	prefixIndex   = 'q'
	prefixMessage = 'm'
	prefixRefs    = 'r'
	prefixMeta    = 'x'
	prefixChunk   = 'c'
)

// Suffixes after the sequence number of an index key: the entry sorts just
// before its delivered mark, so one scan of a queue sees both.
const (
	suffixEntry     = 0x00
	suffixDelivered = 0x01
)

// Badger user-meta of an index entry: how to find its body.
const (
	metaInline byte = 1 // value = msgID64 + body
	metaShared byte = 2 // value = msgID64; body under 'm', count under 'r'
)

// Badger user-meta of a body under 'm': metaChunked means the value is
// pieces32 length64 and the body is in pieces under 'c' msgID64 piece32.
const metaChunked byte = 3

// maxQueueName bounds a queue name in an index key (a 16-bit length). AMQP
// 0-9-1 queue names are shortstrs (≤ 255 bytes); the margin lets the caller
// prefix a vhost.
const maxQueueName = 1<<16 - 1

var metaKey = []byte{prefixMeta, 'm', 'e', 't', 'a'}

// Kind names a class of durable entity.
type Kind byte

// Entity kinds. The values are written to disk: never renumber them.
const (
	KindVhost    Kind = 'v'
	KindUser     Kind = 'u'
	KindExchange Kind = 'x'
	KindQueue    Kind = 'q'
	KindBinding  Kind = 'b'
	KindPolicy   Kind = 'p' // a vhost's policy (package vhost, policy.go)
)

func (k Kind) String() string {
	switch k {
	case KindVhost:
		return "vhost"
	case KindUser:
		return "user"
	case KindExchange:
		return "exchange"
	case KindQueue:
		return "queue"
	case KindBinding:
		return "binding"
	case KindPolicy:
		return "policy"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

func (k Kind) valid() bool {
	switch k {
	case KindVhost, KindUser, KindExchange, KindQueue, KindBinding, KindPolicy:
		return true
	}
	return false
}

func entityKey(dst []byte, kind Kind, key string) []byte {
	dst = append(dst, prefixEntity, byte(kind))
	return append(dst, key...)
}

// queuePrefix is 'q' len16 queue: every key of one queue starts with it.
func queuePrefix(dst []byte, queue string) []byte {
	dst = append(dst, prefixIndex)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(queue)))
	return append(dst, queue...)
}

func indexKey(dst []byte, queue string, seq uint64, suffix byte) []byte {
	dst = queuePrefix(dst, queue)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return append(dst, suffix)
}

// parseIndexKey splits an index key; ok is false for anything malformed.
func parseIndexKey(k []byte) (queue []byte, seq uint64, suffix byte, ok bool) {
	if len(k) < 3 || k[0] != prefixIndex {
		return nil, 0, 0, false
	}
	n := int(binary.BigEndian.Uint16(k[1:3]))
	if len(k) != 3+n+8+1 {
		return nil, 0, 0, false
	}
	return k[3 : 3+n], binary.BigEndian.Uint64(k[3+n:]), k[len(k)-1], true
}

func idKey(dst []byte, prefix byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefix), id)
}

func chunkKey(id uint64, piece uint32) []byte {
	return binary.BigEndian.AppendUint32(idKey(nil, prefixChunk, id), piece)
}

// prefixEnd is the smallest key greater than every key starting with p, or
// nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
