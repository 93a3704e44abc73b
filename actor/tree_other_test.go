//go:build !unix

package actor_test

import "errors"

// There are no processes to hang here (the tests that would skip).
func stopProcess(int) error     { return errors.ErrUnsupported }
func continueProcess(int) error { return errors.ErrUnsupported }
