//go:build unix && !linux

package actor_test

// rlimitNPROC is RLIMIT_NPROC on the BSDs and macOS.
const rlimitNPROC = 7
