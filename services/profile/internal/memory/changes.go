package memory

import (
	"context"
	"slices"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Notices returns the change log after the position after.
func (s *Store) Notices(_ context.Context, after int64, limit int) ([]profile.Notice, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []profile.Notice
	for _, n := range s.notices[min(max(int(after), 0), len(s.notices)):] {
		if len(out) == limit {
			break
		}
		out = append(out, cloneNotice(n))
	}
	return out, nil
}

// appendNotice adds n to the change log with the next sequence number.
// s.mu must be held for writing, by the same critical section as the change
// n announces.
func (s *Store) appendNotice(n profile.Notice) {
	n = cloneNotice(n)
	n.Seq = int64(len(s.notices) + 1)
	s.notices = append(s.notices, n)
}

// appendConsentNotice announces the consents of the live profile id, when
// it has any. s.mu must be held for writing.
func (s *Store) appendConsentNotice(id string, n profile.Notice) {
	consents := s.consentsLocked(id)
	if len(consents) == 0 {
		return
	}
	n.Kind, n.Profile, n.Other, n.Consents = profile.NoticeConsent, id, "", consents
	n.Identifiers, n.Kept, n.Rule = nil, nil, ""
	s.appendNotice(n)
}

// redactNotices drops the identifiers and consents of older notices about
// any of ids, for an erasure. s.mu must be held for writing.
func (s *Store) redactNotices(ids []string) {
	for i, n := range s.notices {
		if slices.Contains(ids, n.Profile) || slices.Contains(ids, n.Other) {
			s.notices[i].Identifiers, s.notices[i].Kept, s.notices[i].Consents = nil, nil, nil
		}
	}
}

func cloneNotice(n profile.Notice) profile.Notice {
	n.Identifiers = slices.Clone(n.Identifiers)
	n.Kept = slices.Clone(n.Kept)
	n.Consents = slices.Clone(n.Consents)
	return n
}
