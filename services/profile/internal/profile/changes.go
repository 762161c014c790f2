package profile

import (
	"context"
	"time"
)

// NoticeKind says what a Notice announces.
type NoticeKind int

// The kinds of Notice.
const (
	// NoticeMerged: Other was merged into Profile; Identifiers moved.
	NoticeMerged NoticeKind = iota + 1
	// NoticeUnmerged: Other was split back out of Profile; Identifiers
	// went back to it and Kept stayed with Profile.
	NoticeUnmerged
	// NoticeConsent: Profile's consents changed; Consents are all of them
	// after the change.
	NoticeConsent
	// NoticeErased: Profile and every profile merged into it were erased.
	NoticeErased
)

// String names the kind as the change log stores it.
func (k NoticeKind) String() string {
	switch k {
	case NoticeMerged:
		return "merged"
	case NoticeUnmerged:
		return "unmerged"
	case NoticeConsent:
		return "consent"
	case NoticeErased:
		return "erased"
	}
	return "unknown"
}

// ParseNoticeKind reads a kind written by NoticeKind.String; 0 when unknown.
func ParseNoticeKind(s string) NoticeKind {
	for k := NoticeMerged; k <= NoticeErased; k++ {
		if k.String() == s {
			return k
		}
	}
	return 0
}

// Notice is one entry of the profile change log: a change of the identity
// graph that the other services must apply to their own state (events,
// segment memberships, metrics).
//
// A store appends notices in the same transaction as the change they
// announce, so that a change is never announced without happening nor
// happens unannounced, and numbers them with a gap-free Seq in commit
// order: a reader that sees Seq s has seen every smaller one. Readers
// (StreamProfileChanges) keep a cursor and resume after it.
//
// Stores append them as follows:
//   - Resolve: one NoticeMerged per merge applied (Update.Merges), after
//     the merge, and a NoticeConsent for the survivor when either profile
//     had consents (the survivor's consents now span both).
//   - Unmerge: one NoticeUnmerged, and a NoticeConsent for each of the two
//     profiles that has consents.
//   - SetConsents: one NoticeConsent with the profile's consents after.
//   - Erasure (a store's delete of a person): one NoticeErased per live
//     profile erased, in the transaction that deletes it. In the Postgres
//     store call appendNotices(ctx, tx, profile.Notice{Kind:
//     profile.NoticeErased, Profile: id, Time: now}) and then
//     redactNotices(ctx, tx, ids) with the ids of every profile erased, so
//     that older notices no longer hold their identifiers; in the memory
//     store call s.appendNotice and s.redactNotices under s.mu.
type Notice struct {
	// Seq is the position in the change log, from 1, gap-free.
	Seq int64
	// Kind is what happened.
	Kind NoticeKind
	// Time is when it happened.
	Time time.Time
	// Profile is the live profile the change is about: the survivor of a
	// merge or an unmerge, the profile whose consents changed, the profile
	// erased.
	Profile string
	// Other is the profile merged away (NoticeMerged) or restored
	// (NoticeUnmerged); "" otherwise.
	Other string
	// Identifiers are the identifiers that moved: from Other to Profile on
	// a merge, back to Other on an unmerge.
	Identifiers []Identifier
	// Kept are the identifiers Profile still holds after an unmerge, so
	// that readers can tell which of its records go back to Other.
	Kept []Identifier
	// Rule is the rule that merged (NoticeMerged).
	Rule string
	// Consents are the profile's consents after the change, per purpose
	// (NoticeConsent).
	Consents []Consent
}

// NoticeLog is the store side of the profile change log. Implementations
// are checked by the conformance suite in internal/storetest.
type NoticeLog interface {
	// Notices returns at most limit notices with Seq greater than after,
	// in Seq order, all committed.
	Notices(ctx context.Context, after int64, limit int) ([]Notice, error)
}

// Notices returns at most limit notices of the change log after the
// position after, in order.
func (g *Graph) Notices(ctx context.Context, after int64, limit int) ([]Notice, error) {
	return g.store.Notices(ctx, after, limit)
}
