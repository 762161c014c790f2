package metrics

import "crypto/sha256"

// ErasedKey is what the stores keep of an erased profile, so that the
// membership feed, applied apart from the event log, cannot bring it back:
// the SHA-256 of its name, which names no one.
func ErasedKey(profile string) []byte {
	h := sha256.Sum256([]byte(profile))
	return h[:]
}

// WithoutErased returns changes without those of the profiles for which
// erased is true.
func WithoutErased(changes []Change, erased func(profile string) bool) []Change {
	out := changes[:0:0]
	for _, c := range changes {
		if !erased(c.Profile) {
			out = append(out, c)
		}
	}
	return out
}
