package conformance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// closeWait bounds how long a check waits for a close, a delivery or a confirm that should come at once.
const closeWait = 5 * time.Second

// within returns a channel that fires after d, or at the check's deadline if that comes first.
func (e *Env) within(d time.Duration) <-chan time.Time {
	if dl, ok := e.ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return time.After(max(d, 0))
}

// textMatches compares a reply text with the expected one; a trailing "*" in want matches any rest.
func textMatches(want, got string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, p)
	}
	return replyText(want) == got
}

// replyText is text as RabbitMQ sends it in a reply-text shortstr (at most 255 octets, AMQP 0-9-1
// §4.2.5.3): longer texts are cut to 252 octets followed by "..." (rabbit_binary_generator.erl
// amqp_exception_explanation).
func replyText(text string) string {
	if len(text) <= 255 {
		return text
	}
	return text[:252] + "..."
}

func wantDesc(scope string, code int, text string) string {
	if text == "" {
		return fmt.Sprintf("%s %d", scope, code)
	}
	if !strings.HasSuffix(text, "*") {
		text = replyText(text)
	}
	return fmt.Sprintf("%s %d %q", scope, code, text)
}

// matchError checks that err is the server's exception with code and (if not empty) text.
func matchError(err error, code int, text string) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Server && ae.Code == code && (text == "" || textMatches(text, ae.Reason))
}

// WantChannelError checks that err, returned by a synchronous method on ch, is the channel exception code
// with reply text text ("" = any; a trailing "*" = prefix), that ch is closed, and that the connection
// survives it (a channel exception closes only the channel, AMQP 0-9-1 §2.3.6).
func (e *Env) WantChannelError(ch *Chan, err error, code int, text string, what string) {
	if !matchError(err, code, text) {
		e.Fatalf("%s: got %s, want %s", what, describe(err), wantDesc("channel exception", code, text))
	}
	e.WantChannelClosed(ch, code, text, what)
}

// WantChannelClosed waits for ch to be closed by the server with code and text, then checks that the
// connection is still open. Use it for asynchronous methods (basic.publish, basic.ack) whose errors
// arrive as a channel.close.
func (e *Env) WantChannelClosed(ch *Chan, code int, text string, what string) {
	select {
	case ae, ok := <-ch.closes:
		if !ok || ae == nil {
			e.Fatalf("%s: channel closed without an exception, want %s", what, wantDesc("channel exception", code, text))
		}
		if !matchError(ae, code, text) {
			e.Fatalf("%s: channel closed with %s, want %s", what, describe(ae), wantDesc("channel exception", code, text))
		}
	case <-e.within(closeWait):
		e.Fatalf("%s: channel still open after %v, want %s", what, closeWait, wantDesc("channel exception", code, text))
	}
	e.WantConnAlive(ch.Conn, what)
}

// WantConnAlive checks that c still serves requests: it opens and closes a channel.
func (e *Env) WantConnAlive(c *Conn, what string) {
	ch, err := c.OpenErr()
	if err != nil {
		e.Fatalf("%s: the connection did not survive (channel.open: %s); want only the channel closed", what, describe(err))
	}
	if err := ch.Close(); err != nil {
		e.Fatalf("%s: the connection did not survive (channel.close: %s); want only the channel closed", what, describe(err))
	}
}

// WantConnError checks that err, returned by a method on a channel of c, is the connection exception code
// with text, and that the server closes c.
func (e *Env) WantConnError(c *Conn, err error, code int, text string, what string) {
	if !matchError(err, code, text) {
		e.Fatalf("%s: got %s, want %s", what, describe(err), wantDesc("connection exception", code, text))
	}
	e.WantConnClosed(c, code, text, what)
}

// WantConnClosed waits for the server to close c with code and text.
func (e *Env) WantConnClosed(c *Conn, code int, text string, what string) {
	select {
	case ae, ok := <-c.closes:
		if !ok || ae == nil {
			e.Fatalf("%s: connection closed without an exception, want %s", what, wantDesc("connection exception", code, text))
		}
		if !matchError(ae, code, text) {
			e.Fatalf("%s: connection closed with %s, want %s", what, describe(ae), wantDesc("connection exception", code, text))
		}
	case <-e.within(closeWait):
		e.Fatalf("%s: connection still open after %v, want %s", what, closeWait, wantDesc("connection exception", code, text))
	}
}

// WantOK ends the check if err is not nil.
func (e *Env) WantOK(err error, what string) {
	if err != nil {
		e.Fatalf("%s: got %s, want success", what, describe(err))
	}
}

// Eventually polls cond every 10 ms until it holds or closeWait passes; for effects that RabbitMQ applies
// asynchronously after a reply (exclusive queues deleted after connection.close-ok, messages requeued
// after channel.close-ok).
func (e *Env) Eventually(what string, cond func() bool) {
	timeout := e.within(closeWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-timeout:
			e.Fatalf("%s: not so after %v", what, closeWait)
		case <-tick.C:
		}
	}
}
