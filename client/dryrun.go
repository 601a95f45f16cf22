package client

import (
	"context"
	"net/url"
)

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
