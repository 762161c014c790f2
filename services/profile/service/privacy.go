package service

import (
	"fmt"

	"github.com/barista-cdp/barista/pkg/app"
)

// SuppressionKeyFlag names the flag (--suppression-key, or the environment
// variable BARISTA_PROFILE_SUPPRESSION_KEY) holding the secret that keys the
// hashes of erased identifiers. Empty uses a random secret made per
// database by the migrations (or per process in memory). Changing it
// forgets every suppression made under the old key.
const SuppressionKeyFlag = "suppression-key"

// minSuppressionKey is the shortest secret accepted, in bytes: the size of
// an HMAC-SHA256 output.
const minSuppressionKey = 32

func checkSuppressionKey(key string) error {
	if key != "" && len(key) < minSuppressionKey {
		return fmt.Errorf("--%s is %d bytes long; use at least %d random bytes", SuppressionKeyFlag, len(key), minSuppressionKey)
	}
	return nil
}

// suppressionKey returns the configured secret, or nil to use the store's.
func suppressionKey(env app.Env) []byte {
	if key := env.Flags[SuppressionKeyFlag]; key != "" {
		return []byte(key)
	}
	return nil
}
