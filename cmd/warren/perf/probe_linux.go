package perf

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// On Linux, Prober and Nap (probe.go) use raw system calls so that a loop timing a
// broker's start (cmd/bench startup, TestStartupTime) takes as little as it can from
// the broker it measures, which starts on the same cores:
//   - a try is socket, a blocking connect (loopback refuses at once while nothing
//     listens), and once connected the protocol header and the first byte of the
//     answer over the same descriptor: about 18 µs of CPU per refused try, against
//     40 µs through package net (2,000 tries each);
//   - the wait between tries is nanosleep(2) through RawSyscall: 200 µs take about
//     270 µs where time.Sleep takes 1.08 ms, and the runtime does not see the sleep.
//     Through syscall.Nanosleep the runtime's monitor thread takes the processor
//     away from every sleep longer than 20 µs: a loop of 200 µs sleeps cost 190 ms
//     of CPU and 13,700 context switches a second that way, 80 ms and 3,700 raw.
func nap(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for {
		_, _, errno := syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&ts)), 0)
		if errno != syscall.EINTR {
			return
		}
	}
}

func prober(addr string) func() bool {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil || ta.IP == nil || ta.Zone != "" {
		return func() bool { return ServesAMQP(addr) }
	}
	family, sa := syscall.AF_INET6, syscall.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip4)}
	} else {
		sa = &syscall.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ta.IP.To16())}
	}
	return func() bool { return servesRaw(family, sa) }
}

// servesRaw is ServesAMQP over a blocking socket: connect, send the protocol header,
// expect a method frame (1) back.
func servesRaw(family int, sa syscall.Sockaddr) bool {
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	// SO_SNDTIMEO bounds connect and write (1 s, as ServesAMQP's dial), SO_RCVTIMEO
	// the answer (5 s).
	if syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &syscall.Timeval{Sec: 1}) != nil ||
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5}) != nil {
		return false
	}
	if syscall.Connect(fd, sa) != nil {
		return false
	}
	if n, err := syscall.Write(fd, protocolHeader); err != nil || n != len(protocolHeader) {
		return false
	}
	var b [1]byte
	for {
		n, err := syscall.Read(fd, b[:])
		if err == syscall.EINTR {
			continue
		}
		return err == nil && n == 1 && b[0] == 1
	}
}
