package pool

import (
	"io/fs"
	"math"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
)

// CPUCount returns the number of CPUs this process may really use: the
// minimum of runtime.NumCPU (which already honours the scheduler affinity
// mask the process started with), the cgroup CPU quota (v2 cpu.max or v1
// cfs_quota_us/cfs_period_us, rounded up, the tightest along the cgroup's
// path), and GROVE_MAX_CPU_COUNT when set; never below 1. It reads a few
// small files under /proc and /sys on each call.
func CPUCount() int {
	return cpuCount(os.DirFS("/"), os.Getenv("GROVE_MAX_CPU_COUNT"), runtime.NumCPU())
}

func cpuCount(root fs.FS, envMax string, numCPU int) int {
	n := numCPU
	if q := cgroupQuota(root); q > 0 && q < n {
		n = q
	}
	if m, err := strconv.Atoi(strings.TrimSpace(envMax)); err == nil && m > 0 && m < n {
		n = m
	}
	return max(n, 1)
}

// cgroupQuota returns the CPU quota of this process's cgroup, rounded up,
// or 0 when there is none.
func cgroupQuota(root fs.FS) int {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	best := 0
	limit := func(q int) {
		if q > 0 && (best == 0 || q < best) {
			best = q
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		controllers, cgPath := parts[1], parts[2]
		switch {
		case controllers == "": // cgroup v2
			walkUp(cgPath, func(dir string) { limit(quotaV2(root, path.Join("sys/fs/cgroup", dir, "cpu.max"))) })
		case hasController(controllers, "cpu"): // cgroup v1
			for _, mount := range []string{"sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpu"} {
				walkUp(cgPath, func(dir string) { limit(quotaV1(root, path.Join(mount, dir))) })
			}
		}
	}
	return best
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// walkUp calls fn for dir and each of its parents, up to the root.
func walkUp(dir string, fn func(dir string)) {
	dir = path.Clean("/" + dir)
	for {
		fn(dir)
		if dir == "/" {
			return
		}
		dir = path.Dir(dir)
	}
}

// quotaV2 reads a cpu.max file: "max 100000" or "150000 100000".
func quotaV2(root fs.FS, file string) int {
	data, err := fs.ReadFile(root, strings.TrimPrefix(file, "/"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	return ceilRatio(f[0], f[1])
}

// quotaV1 reads cpu.cfs_quota_us and cpu.cfs_period_us in dir.
func quotaV1(root fs.FS, dir string) int {
	q, err1 := fs.ReadFile(root, path.Join(dir, "cpu.cfs_quota_us"))
	p, err2 := fs.ReadFile(root, path.Join(dir, "cpu.cfs_period_us"))
	if err1 != nil || err2 != nil {
		return 0
	}
	return ceilRatio(strings.TrimSpace(string(q)), strings.TrimSpace(string(p)))
}

func ceilRatio(quota, period string) int {
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return int(math.Ceil(q / p))
}
