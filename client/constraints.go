package client

import (
	"context"
	"errors"

	"github.com/rolegate/rolegate/api"
)

// Separation of duties: an entity's constraints, rights of which no user may
// hold more than one (docs/api.md, "Separation of duties"). A write the
// server refuses because it would break one is a *Error with Status 409,
// Code "separation_of_duties" and the Violations it would have created.

type (
	// Constraint is one separation-of-duties rule of an entity: Mode is
	// "enforce" or "report".
	Constraint = api.Constraint
	// ConstraintInput is the body of CreateConstraint and
	// ReplaceConstraint (Mode "" is enforce).
	ConstraintInput = api.ConstraintInput
	// ConstraintRight is one right a constraint separates.
	ConstraintRight = api.ConstraintRight
	// ConstraintException lets a user hold the rights together until
	// ExpiresAt (RFC 3339), for Reason.
	ConstraintException = api.ConstraintException
	// Violation is a user holding two or more rights of a constraint,
	// entity-wide (Scope "") or in Scope, and how.
	Violation = api.Violation
	// HeldRight is one right of a violation and the roles (or own rights)
	// it is held through.
	HeldRight = api.HeldRight
	// HeldVia is a role a right is held through.
	HeldVia = api.HeldVia
	// Violations is the answer of ConstraintViolations.
	Violations = api.Violations
)

func constraintPath(entity, id string) string { return entityPath(entity) + "/constraints/" + seg(id) }

// CreateConstraint makes a constraint. Over an entity that already violates
// it, Mode enforce is refused (409 separation_of_duties, see ViolationsOf);
// Mode report stores it as reporting only.
func (c *Client) CreateConstraint(ctx context.Context, entity string, in ConstraintInput) (Constraint, error) {
	var k Constraint
	_, err := c.call(ctx, request{method: "POST", path: entityPath(entity) + "/constraints", body: in}, &k)
	return k, err
}

// GetConstraint reads one constraint.
func (c *Client) GetConstraint(ctx context.Context, entity, id string) (Constraint, error) {
	var k Constraint
	_, err := c.call(ctx, request{method: "GET", path: constraintPath(entity, id), idempotent: true}, &k)
	return k, err
}

// ListConstraints lists the entity's constraints, by name.
func (c *Client) ListConstraints(ctx context.Context, entity string) ([]Constraint, error) {
	var l api.ConstraintList
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/constraints", idempotent: true}, &l)
	return l.Data, err
}

// ReplaceConstraint replaces a constraint whole (PUT, retried on 429/503).
// Switching to enforce is refused while it has violations.
func (c *Client) ReplaceConstraint(ctx context.Context, entity, id string, in ConstraintInput) (Constraint, error) {
	var k Constraint
	_, err := c.call(ctx, request{method: "PUT", path: constraintPath(entity, id), body: in, idempotent: true}, &k)
	return k, err
}

// DeleteConstraint deletes a constraint.
func (c *Client) DeleteConstraint(ctx context.Context, entity, id string) error {
	_, err := c.call(ctx, request{method: "DELETE", path: constraintPath(entity, id), idempotent: true}, nil)
	return err
}

// ConstraintViolations lists every user in violation of the constraint now
// (exceptions in force left out), and the revision read.
func (c *Client) ConstraintViolations(ctx context.Context, entity, id string) (Violations, error) {
	var v Violations
	_, err := c.call(ctx, request{method: "GET", path: constraintPath(entity, id) + "/violations", idempotent: true}, &v)
	return v, err
}

// ViolationsOf returns the violations of a separation_of_duties refusal
// (nil for any other error).
func ViolationsOf(err error) []Violation {
	var e *Error
	if errors.As(err, &e) && e.Code == "separation_of_duties" {
		return e.Violations
	}
	return nil
}
