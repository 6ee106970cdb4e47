package keystore

import (
	"os"
	"testing"
)

// TestMain makes argon2id cheap: the tests lock and unlock many times under
// -race, and what they check does not depend on the cost.
func TestMain(m *testing.M) {
	kdfCost = [2]uint32{1, 64}
	os.Exit(m.Run())
}
