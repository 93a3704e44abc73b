//go:build !linux

package measure

// RSS returns ErrNoRSS: off Linux the memory figure's RSS is absent.
func RSS(pid int) (int64, error) { return 0, ErrNoRSS }
