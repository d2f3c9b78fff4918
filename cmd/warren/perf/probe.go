package perf

import (
	"io"
	"net"
	"time"
)

// ServesAMQP sends the AMQP 0-9-1 protocol header to addr and reports whether a method
// frame (connection.start) comes back: a broker accepted the connection and answers.
func ServesAMQP(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(protocolHeader); err != nil {
		return false
	}
	var b [1]byte
	_, err = io.ReadFull(c, b[:])
	return err == nil && b[0] == 1
}

// Prober returns a check that does what ServesAMQP(addr) does, for a loop that times a
// broker's start: on Linux with raw system calls (probe_linux.go), so that each try
// takes as little as it can from the broker starting beside it.
func Prober(addr string) func() bool { return prober(addr) }

// Nap waits d between the tries of such a loop. time.Sleep oversleeps short waits: a
// Go program with nothing else to do waits for its next timer in epoll_wait, whose
// timeout has a resolution of a millisecond, so time.Sleep(200µs) takes 1.08 ms.
// probe_linux.go sleeps with nanosleep(2) instead.
func Nap(d time.Duration) { nap(d) }
