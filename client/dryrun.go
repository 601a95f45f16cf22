package client

import (
	"context"
	"net/url"
)

// DryRun is what a write would change, from the server's dry run
// (?dry_run=true): the effective rights users would gain and lose. Nothing
// is written.
type DryRun struct {
	DryRun bool             `json:"dry_run"`
	Gained []EffectiveRight `json:"gained"`
	Lost   []EffectiveRight `json:"lost"`
}

// EffectiveRight is one user's right that a write changes: allowed or
// allowed_for_own, entity-wide or inside Scope.
type EffectiveRight struct {
	UserID     string `json:"user_id"`
	Scope      string `json:"scope,omitempty"`
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
	Permission string `json:"permission"`
}

// DryRunReplaceRole says what ReplaceRole would change, writing nothing.
func (c *Client) DryRunReplaceRole(ctx context.Context, entity, id string, in RoleInput, version int64) (DryRun, error) {
	var d DryRun
	_, err := c.call(ctx, request{method: "PUT", path: entityPath(entity) + "/roles/" + seg(id), query: url.Values{"dry_run": {"true"}}, body: in, header: ifMatch(version), idempotent: true}, &d)
	return d, err
}

// DryRunDeleteRole says what DeleteRole would change, writing nothing.
func (c *Client) DryRunDeleteRole(ctx context.Context, entity, id string, force bool, version int64) (DryRun, error) {
	q := url.Values{"dry_run": {"true"}}
	if force {
		q.Set("force", "true")
	}
	var d DryRun
	_, err := c.call(ctx, request{method: "DELETE", path: entityPath(entity) + "/roles/" + seg(id), query: q, header: ifMatch(version), idempotent: true}, &d)
	return d, err
}
