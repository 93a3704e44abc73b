package nursery_test

import (
	"testing"

	"github.com/grove-rt/grove/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
