package policy

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rolegate/rolegate"
)

// The stored encoding of a constraint's rights and exceptions, written here
// once for every store (ConstraintStore): JSON arrays whose field names and
// order are fixed, as the audit log's are (api.AuditConstraint).
//
//	rights:     [{"object_type": "payable", "action": "approve"}, ...]
//	exceptions: [{"user_id": "u-1", "reason": "...", "expires_at": "2027-01-01T00:00:00Z"}, ...]

type storedConstraintRight struct {
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
}

type storedConstraintException struct {
	UserID    string `json:"user_id"`
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expires_at"` // RFC 3339, UTC, with the fraction kept
}

// EncodeConstraintRights returns rights as stored text ("[]" for none).
func EncodeConstraintRights(rs []rolegate.ConstraintRight) (string, error) {
	out := make([]storedConstraintRight, 0, len(rs))
	for _, r := range rs {
		out = append(out, storedConstraintRight(r))
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeConstraintRights reads text EncodeConstraintRights wrote.
func DecodeConstraintRights(s string) ([]rolegate.ConstraintRight, error) {
	var in []storedConstraintRight
	if s != "" {
		if err := json.Unmarshal([]byte(s), &in); err != nil {
			return nil, fmt.Errorf("stored constraint rights: %w", err)
		}
	}
	out := make([]rolegate.ConstraintRight, 0, len(in))
	for _, r := range in {
		out = append(out, rolegate.ConstraintRight(r))
	}
	return out, nil
}

// EncodeConstraintExceptions returns exceptions as stored text ("[]" for
// none).
func EncodeConstraintExceptions(es []rolegate.ConstraintException) (string, error) {
	out := make([]storedConstraintException, 0, len(es))
	for _, e := range es {
		out = append(out, storedConstraintException{UserID: e.UserID, Reason: e.Reason, ExpiresAt: e.ExpiresAt.UTC().Format(time.RFC3339Nano)})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeConstraintExceptions reads text EncodeConstraintExceptions wrote;
// none reads back as nil.
func DecodeConstraintExceptions(s string) ([]rolegate.ConstraintException, error) {
	var in []storedConstraintException
	if s != "" {
		if err := json.Unmarshal([]byte(s), &in); err != nil {
			return nil, fmt.Errorf("stored constraint exceptions: %w", err)
		}
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]rolegate.ConstraintException, 0, len(in))
	for _, e := range in {
		at, err := time.Parse(time.RFC3339Nano, e.ExpiresAt)
		if err != nil {
			return nil, fmt.Errorf("stored constraint exception of %q: %w", e.UserID, err)
		}
		out = append(out, rolegate.ConstraintException{UserID: e.UserID, Reason: e.Reason, ExpiresAt: at.UTC()})
	}
	return out, nil
}
