package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// madvPageout is Linux's MADV_PAGEOUT (5.4+): reclaim these pages now.
const madvPageout = 21

// pageOut asks the kernel to take back the pages of Badger's file mappings in
// dir (tables, write-ahead logs, value logs) from this process, and returns
// how many bytes of mappings it advised. Badger maps every file it reads;
// after a drain the tables it read and compacted stay resident, 20-40 MB that
// the process's memory (RSS) counts although the page cache holds them
// (issue 6, scenario 6: memory given back once the queue is empty). Touching a
// page again faults it back in. ok is false on a kernel without MADV_PAGEOUT
// (before 5.4).
//
// MADV_PAGEOUT, not MADV_DONTNEED: this reads /proc/self/maps, and Badger may
// unmap a file (a compacted table) before the advice arrives, and the address
// may be mapped again for something else. MADV_PAGEOUT never changes what
// memory holds (a dirty file page is written back first, an anonymous page
// goes to swap or stays), so advice on the wrong range costs at most a page
// fault later; MADV_DONTNEED would zero anonymous memory.
func pageOut(dir string) (advised uint64, ok bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, true
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, true
	}
	prefix := []byte(abs + "/")
	for line := range bytes.Lines(data) {
		// start-end perms offset dev inode path
		f := bytes.Fields(line)
		if len(f) < 6 || !bytes.HasPrefix(f[5], prefix) || !badgerFile(f[5]) {
			continue
		}
		start, end, ok := bytes.Cut(f[0], []byte{'-'})
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(string(start), 16, 64)
		hi, err2 := strconv.ParseUint(string(end), 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), madvPageout)
		if errno == syscall.EINVAL {
			return advised, false // a kernel before 5.4
		}
		if errno == 0 {
			advised += hi - lo
		}
	}
	return advised, true
}

func badgerFile(path []byte) bool {
	for _, ext := range [...]string{".sst", ".mem", ".vlog"} {
		if bytes.HasSuffix(path, []byte(ext)) {
			return true
		}
	}
	return false
}
