package memstore

import (
	"sort"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// constraintRow is a constraint as stored: rights and exceptions encoded, as
// the SQL stores keep them, so that no slice is shared with a caller.
type constraintRow struct {
	rolegate.Constraint
	rights, exceptions string
}

func constraintRowOf(c *rolegate.Constraint) (constraintRow, error) {
	row := constraintRow{Constraint: *c}
	var err error
	if row.rights, err = policy.EncodeConstraintRights(c.Rights); err != nil {
		return row, err
	}
	if row.exceptions, err = policy.EncodeConstraintExceptions(c.Exceptions); err != nil {
		return row, err
	}
	row.Rights, row.Exceptions = nil, nil
	row.CreatedAt, row.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return row, nil
}

func (r constraintRow) constraint() (rolegate.Constraint, error) {
	out := r.Constraint
	var err error
	if out.Rights, err = policy.DecodeConstraintRights(r.rights); err != nil {
		return rolegate.Constraint{}, err
	}
	if out.Exceptions, err = policy.DecodeConstraintExceptions(r.exceptions); err != nil {
		return rolegate.Constraint{}, err
	}
	return out, nil
}

// constraintNameTaken reports whether another constraint of the entity has
// the name (the SQL stores' unique index).
func (t *tx) constraintNameTaken(c *rolegate.Constraint) bool {
	for id, o := range t.st.constraints {
		if id != c.ID && o.EntityID == c.EntityID && o.Name == c.Name {
			return true
		}
	}
	return false
}

func (t *tx) InsertConstraint(c *rolegate.Constraint) error {
	row, err := constraintRowOf(c)
	if err != nil {
		return err
	}
	if err := t.writing(tConstraints); err != nil {
		return err
	}
	if _, ok := t.st.constraints[c.ID]; ok || t.constraintNameTaken(c) {
		return duplicate("constraint %q", c.Name)
	}
	t.st.constraints[c.ID] = row
	return nil
}

func (t *tx) UpdateConstraint(c *rolegate.Constraint) error {
	row, err := constraintRowOf(c)
	if err != nil {
		return err
	}
	if err := t.writing(tConstraints); err != nil {
		return err
	}
	old, ok := t.st.constraints[c.ID]
	if !ok || old.EntityID != c.EntityID {
		return notFound("constraint %q", c.ID)
	}
	if t.constraintNameTaken(c) {
		return duplicate("constraint %q", c.Name)
	}
	row.CreatedAt, row.CreatedBy = old.CreatedAt, old.CreatedBy
	t.st.constraints[c.ID] = row
	return nil
}

func (t *tx) GetConstraint(entityID, id string) (rolegate.Constraint, error) {
	r, ok := t.st.constraints[id]
	if !ok || r.EntityID != entityID {
		return rolegate.Constraint{}, notFound("constraint %q", id)
	}
	return r.constraint()
}

func (t *tx) ListConstraints(entityID string) ([]rolegate.Constraint, error) {
	out := []rolegate.Constraint{}
	for _, r := range t.st.constraints {
		if r.EntityID != entityID {
			continue
		}
		c, err := r.constraint()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (t *tx) DeleteConstraint(entityID, id string) error {
	if err := t.writing(tConstraints); err != nil {
		return err
	}
	r, ok := t.st.constraints[id]
	if !ok || r.EntityID != entityID {
		return notFound("constraint %q", id)
	}
	delete(t.st.constraints, id)
	return nil
}

func (t *tx) ConstraintRules(entityID string) ([]rolegate.Constraint, error) {
	out := []rolegate.Constraint{}
	for _, r := range t.st.constraints {
		if r.EntityID != entityID {
			continue
		}
		rights, err := policy.DecodeConstraintRights(r.rights)
		if err != nil {
			return nil, err
		}
		out = append(out, rolegate.Constraint{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Rights: rights, Mode: r.Mode})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
