package pool

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestCPUCountSources(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	cases := []struct {
		name   string
		fs     fstest.MapFS
		env    string
		numCPU int
		want   int
	}{
		{"no cgroup", fstest.MapFS{}, "", 8, 8},
		{"v2 quota rounded up", fstest.MapFS{
			"proc/self/cgroup":             file("0::/app\n"),
			"sys/fs/cgroup/app/cpu.max":    file("150000 100000\n"),
			"sys/fs/cgroup/cpu.max":        file("max 100000\n"),
			"sys/fs/cgroup/app/cpu.weight": file("100\n"),
		}, "", 8, 2},
		{"v2 quota on a parent", fstest.MapFS{
			"proc/self/cgroup":          file("0::/a/b\n"),
			"sys/fs/cgroup/a/cpu.max":   file("300000 100000\n"),
			"sys/fs/cgroup/a/b/cpu.max": file("max 100000\n"),
		}, "", 8, 3},
		{"v2 unlimited", fstest.MapFS{
			"proc/self/cgroup":      file("0::/\n"),
			"sys/fs/cgroup/cpu.max": file("max 100000\n"),
		}, "", 4, 4},
		{"v1 quota", fstest.MapFS{
			"proc/self/cgroup": file("4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n"),
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us":  file("50000\n"),
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": file("100000\n"),
		}, "", 8, 1},
		{"v1 no quota", fstest.MapFS{
			"proc/self/cgroup":                            file("4:cpu,cpuacct:/\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  file("-1\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": file("100000\n"),
		}, "", 8, 8},
		{"environment lower", fstest.MapFS{}, "3", 8, 3},
		{"environment higher is ignored", fstest.MapFS{}, "16", 8, 8},
		{"environment garbage is ignored", fstest.MapFS{}, "lots", 8, 8},
		{"never below one", fstest.MapFS{}, "0", 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, cpuCount(tc.fs, tc.env, tc.numCPU))
		})
	}
}
