package wire

import (
	"fmt"
	"strconv"
)

// Exception is an AMQP error: a reply code and text for connection.close (Hard) or
// channel.close (soft). The raiser picks the scope; IsHardCode gives the spec's default.
// ClassID and MethodID name the method that failed (0 if none), as connection.close and
// channel.close report it.
type Exception struct {
	Hard              bool
	Code              uint16 // reply code, e.g. NotFound (404)
	Text              string // "no queue 'q' in vhost '/'"
	ClassID, MethodID uint16 // the failing method, when known
}

// Error returns the code's name and the text, as RabbitMQ's reply-text reads:
// "NOT_FOUND - no queue 'q' in vhost '/'".
func (e *Exception) Error() string {
	name := ReplyName(e.Code)
	if name == "" {
		name = "REPLY_CODE_" + strconv.Itoa(int(e.Code))
	}
	return name + " - " + e.Text
}

// ReplyText returns Error() cut to fit a shortstr the way RabbitMQ cuts it: a text
// longer than 255 bytes keeps its first 252 bytes and ends in "..."
// (rabbit_binary_generator:amqp_exception_explanation).
func (e *Exception) ReplyText() string {
	s := e.Error()
	if len(s) > MaxShortstr {
		s = s[:MaxShortstr-3] + "..."
	}
	return s
}

// ConnectionClose returns the connection.close method that reports e.
func (e *Exception) ConnectionClose() *ConnectionClose {
	return &ConnectionClose{ReplyCode: e.Code, ReplyText: e.ReplyText(), FailingClassID: e.ClassID, FailingMethodID: e.MethodID}
}

// ChannelClose returns the channel.close method that reports e.
func (e *Exception) ChannelClose() *ChannelClose {
	return &ChannelClose{ReplyCode: e.Code, ReplyText: e.ReplyText(), FailingClassID: e.ClassID, FailingMethodID: e.MethodID}
}

// Hard returns a connection exception with a formatted text.
func Hard(code uint16, format string, args ...any) *Exception {
	return &Exception{Hard: true, Code: code, Text: sprintf(format, args)}
}

// Soft returns a channel exception with a formatted text.
func Soft(code uint16, format string, args ...any) *Exception {
	return &Exception{Code: code, Text: sprintf(format, args)}
}

func sprintf(format string, args []any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
