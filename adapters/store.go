package adapters

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gormadapter "github.com/casbin/gorm-adapter/v3"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// Update runs fn in one read-write transaction, bounded by the store timeout
// (deadline.go).
func (s *Store) Update(ctx context.Context, fn func(tx policy.Tx) error) error {
	return s.run(ctx, s.w, true, fn)
}

// View runs fn in a read-only transaction, bounded by the store timeout.
func (s *Store) View(ctx context.Context, fn func(tx policy.Tx) error) error {
	return s.run(ctx, s.r, false, fn)
}

// Snapshot runs fn in one read-only transaction whose reads all see the
// database as of one moment: REPEATABLE READ on PostgreSQL and MySQL (their
// default READ COMMITTED, or a server set so, gives each statement a snapshot
// of its own); on SQLite (WAL) any read transaction does, from its first read
// to its end. Bounded by the store timeout, as View is.
func (s *Store) Snapshot(ctx context.Context, fn func(tx policy.Tx) error) error {
	var opts *sql.TxOptions
	if s.dialect != "sqlite" {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return s.run(ctx, s.r, false, fn, opts)
}

// LoadPolicy reads one entity's revision, rules and active role names, its
// condition sources and its users' attributes, in one snapshot: the rules
// are exactly those of the revision.
func (s *Store) LoadPolicy(ctx context.Context, entityID string) (engine.Policy, error) {
	var out engine.Policy
	err := s.Snapshot(ctx, func(ptx policy.Tx) error {
		var err error
		out, err = s.loadPolicy(ptx.(*tx), entityID)
		return err
	})
	return out, err
}

// loadPolicy is LoadPolicy inside a transaction.
func (s *Store) loadPolicy(t *tx, entityID string) (engine.Policy, error) {
	var out engine.Policy
	var e entityRow
	if err := t.db.Select("revision", "created_at", "rule_count").Where("id = ?", entityID).Take(&e).Error; err != nil {
		return out, translate(err)
	}
	out.Revision, out.Created = e.Revision, utc(e.CreatedAt)
	// The entity's counter says about how many rules come: one
	// allocation instead of a slice grown again and again.
	out.Rules = make([]rolegate.Rule, 0, min(max(e.RuleCount, 0), maxRulePresize))
	r := ruleReader{dialect: s.dialect, entityID: entityID, in: interner{}}
	ok, err := r.read(t.db, &out.Rules, true)
	if err != nil {
		return out, err
	}
	if !ok { // a value holds the separator (or is NULL): read column by column
		out.Rules = out.Rules[:0]
		if _, err := r.read(t.db, &out.Rules, false); err != nil {
			return out, err
		}
	}
	var roles []roleRow
	if err := t.db.Select("id", "name").Where("entity_id = ? AND status = ?", entityID, rolegate.StatusActive).Find(&roles).Error; err != nil {
		return out, translate(err)
	}
	out.RoleNames = make(map[string]string, len(roles))
	for _, r := range roles {
		out.RoleNames[r.ID] = r.Name
	}
	if err := s.nameHashed(t.db, entityID, &out); err != nil {
		return out, err
	}
	if out.Conditions, err = t.EntityConditions(entityID); err != nil {
		return out, err
	}
	return out, loadAttributes(t.db, entityID, &out)
}

// loadAttributes fills pol.Attributes with the attributes of the entity's
// users that have any. On SQLite and PostgreSQL the partial index
// idx_users_attributes holds those users only (its condition is written out
// as a literal, so that the planner sees the query implies it); SQLite is
// told to use it, as it is for the rules.
func loadAttributes(db *gorm.DB, entityID string, pol *engine.Policy) error {
	table := "users"
	if db.Dialector.Name() == "sqlite" {
		table += " INDEXED BY idx_users_attributes"
	}
	var rows []userRow
	if err := db.Table(table).Select("id", "attributes").Where("entity_id = ? AND attributes <> '{}'", entityID).Find(&rows).Error; err != nil {
		return translate(err)
	}
	for _, r := range rows {
		attrs, err := policy.DecodeAttributes(r.Attributes)
		if err != nil {
			return fmt.Errorf("user %q: %w", r.ID, err)
		}
		if attrs == nil {
			continue
		}
		if pol.Attributes == nil {
			pol.Attributes = make(map[string]map[string]any, len(rows))
		}
		pol.Attributes[r.ID] = attrs
	}
	return nil
}

// nameHashed fills pol.Hashed when its rules hold hashed subjects (ids too
// long for a column): from the users and assignments whose ids are long
// enough to hash only, so an entity without any costs one pass over its
// rules.
func (s *Store) nameHashed(db *gorm.DB, entityID string, pol *engine.Policy) error {
	if !slices.ContainsFunc(pol.Rules, func(r rolegate.Rule) bool { return len(r.Values) > 0 && engine.Hashed(r.Values[0]) }) {
		return nil
	}
	// Subjects count bytes; PostgreSQL's LENGTH counts characters.
	octets := func(col string) string { return "OCTET_LENGTH(" + col + ")" }
	if s.dialect == "sqlite" {
		octets = func(col string) string { return "LENGTH(CAST(" + col + " AS BLOB))" }
	}
	var users []string
	if err := db.Model(&userRow{}).Where("entity_id = ? AND "+octets("id")+" >= ?", entityID, engine.HashedMinLen).
		Pluck("id", &users).Error; err != nil {
		return translate(err)
	}
	var as []assignmentRow
	if err := db.Model(&assignmentRow{}).Distinct("user_id", "scope").
		Where("entity_id = ? AND "+octets("user_id")+" + "+octets("scope")+" >= ?", entityID, engine.HashedMinLen).
		Find(&as).Error; err != nil {
		return translate(err)
	}
	pol.Hashed = map[string]engine.HashedName{}
	name := func(userID, scope string) {
		if sub, hashed := engine.HashedSubject(userID, scope); hashed {
			pol.Hashed[sub] = engine.HashedName{UserID: userID, Scope: scope}
		}
	}
	for _, u := range users {
		name(u, "")
	}
	for _, a := range as {
		name(a.UserID, a.Scope)
	}
	return nil
}

// maxRulePresize bounds the slice made up front from the entity's rule
// counter, should the counter be wrong.
const maxRulePresize = 1 << 22

// ruleSep joins a rule's values in one column; no stored value holds it (ids
// and names of rules are printable ASCII), and a row where one would is seen
// (a wrong count of values) and read again column by column.
const ruleSep = 0x1f

// chunkSep joins rules in one value on SQLite, as ruleSep does values.
const chunkSep = 0x1e

// ruleReader streams one entity's rules out of casbin_rule: the p rules
// (ptype 'p', entity in v1) and the g rules (ptype 'g', entity in v2),
// reading only the columns that vary, each repeated string kept once.
//
// Database drivers cost per column of each row: SQLite's (pure Go) spends
// about 0.5 µs on each, ten times what its engine spends finding the row. So
// each rule is read as one column, its values joined by ruleSep in SQL, and
// split here without copying; the rules' value slices are cut from shared
// blocks.
type ruleReader struct {
	dialect, entityID string
	in                interner
	lastUser          string
	block             []string
}

// user makes a g rule's user a string. Users are many, each with a few g
// rules mostly one after the other: the previous row's user is reused rather
// than every user kept in the interner.
func (r *ruleReader) user(b []byte) string {
	if string(b) != r.lastUser {
		r.lastUser = string(b)
	}
	return r.lastUser
}

// values returns a slice of n values for one rule, cut from a shared block.
func (r *ruleReader) values(n int) []string {
	if len(r.block)+n > cap(r.block) {
		r.block = make([]string, 0, 4096)
	}
	i := len(r.block)
	r.block = r.block[:i+n]
	return r.block[i : i+n : i+n]
}

// read appends the entity's rules to out. Joined, each rule comes as one
// column; ok is false when a row did not split into its values.
func (r *ruleReader) read(db *gorm.DB, out *[]rolegate.Rule, joined bool) (ok bool, err error) {
	// SQLite's planner prefers the adapter's covering unique index, which
	// scans every rule of the type; name the index that finds one entity's.
	pTable, gTable := "casbin_rule", "casbin_rule"
	if r.dialect == "sqlite" {
		pTable += " INDEXED BY idx_casbin_rule_ptype_v1"
		gTable += " INDEXED BY idx_casbin_rule_ptype_v2"
	}
	pCols, gCols := []string{"v0", "v2", "v3", "v4", "v5"}, []string{"v0", "v1", "v3"}
	// p rules: [v0, entity, v2, v3, v4, v5] without trailing empty values.
	p := func(v []string) rolegate.Rule {
		v[1] = r.entityID
		return rolegate.Rule{PType: "p", Values: trimEmpty(v)}
	}
	// g rules: [v0, v1, entity], or [v0, v1, entity, v3] for the malformed
	// rule the engine refuses.
	g := func(v []string) rolegate.Rule {
		v[2] = r.entityID
		if v[3] == "" {
			v = v[:3:3]
		}
		return rolegate.Rule{PType: "g", Values: v}
	}
	if joined {
		ok, err := r.eachJoined(db, pTable, "p", "v1", pCols, func(row []byte) bool {
			v := r.values(6)
			if !r.split(row, v[:1], v[2:], r.in.of) {
				return false
			}
			*out = append(*out, p(v))
			return true
		})
		if err != nil || !ok {
			return ok, err
		}
		return r.eachJoined(db, gTable, "g", "v2", gCols, func(row []byte) bool {
			v := r.values(4)
			if !r.split(row, v[:2], v[3:], r.user) {
				return false
			}
			*out = append(*out, g(v))
			return true
		})
	}
	err = streamRows(db, "SELECT "+strings.Join(pCols, ", ")+" FROM "+pTable+" WHERE ptype = ? AND v1 = ?", func(cols []sql.RawBytes) {
		v := r.values(6)
		v[0] = r.in.of(cols[0])
		for i := range 4 {
			v[2+i] = r.in.of(cols[1+i])
		}
		*out = append(*out, p(v))
	}, "p", r.entityID)
	if err != nil {
		return false, err
	}
	err = streamRows(db, "SELECT "+strings.Join(gCols, ", ")+" FROM "+gTable+" WHERE ptype = ? AND v2 = ?", func(cols []sql.RawBytes) {
		v := r.values(4)
		v[0], v[1], v[3] = r.user(cols[0]), r.in.of(cols[1]), r.in.of(cols[2])
		*out = append(*out, g(v))
	}, "g", r.entityID)
	return err == nil, err
}

// sqliteChunk is how many rules one SQLite query joins into one value.
const sqliteChunk = 4096

// eachJoined calls fn with the values of each rule of one type of the entity
// (in column entityCol), joined by ruleSep: each row one rule, or on SQLite
// each row a chunk of rules joined by chunkSep, whose driver costs per row
// what its engine costs for a hundred. The chunks are taken in order of id
// inside the read transaction, so every rule is in one chunk. ok is false
// when fn was or when a chunk did not split into as many rules as it holds.
func (r *ruleReader) eachJoined(db *gorm.DB, table, ptype, entityCol string, cols []string, fn func([]byte) bool) (ok bool, err error) {
	ok = true
	if r.dialect != "sqlite" {
		err = streamRows(db, "SELECT "+r.join(cols)+" FROM "+table+" WHERE ptype = ? AND "+entityCol+" = ?", func(v []sql.RawBytes) {
			ok = ok && fn(v[0])
		}, ptype, r.entityID)
		return ok, err
	}
	q := "SELECT count(*), max(id), group_concat(" + r.join(cols) + ", char(30)) FROM (SELECT id, " + strings.Join(cols, ", ") +
		" FROM " + table + " WHERE ptype = ? AND " + entityCol + " = ? AND id > ? ORDER BY id LIMIT ?)"
	for after, more := int64(-1), true; more && ok; {
		more = false
		err = streamRows(db, q, func(v []sql.RawBytes) {
			n, err1 := strconv.Atoi(string(v[0]))
			last, err2 := strconv.ParseInt(string(v[1]), 10, 64)
			if n == 0 || err1 != nil || err2 != nil {
				more, ok = false, n == 0 && err1 == nil
				return
			}
			after, more = last, n == sqliteChunk
			// n rules: n-1 separators, else a value holds one (or a rule
			// is NULL, left out).
			chunk := v[2]
			for i := range n {
				j := bytes.IndexByte(chunk, chunkSep)
				if (j < 0) != (i == n-1) {
					ok = false
					return
				}
				if j < 0 {
					j = len(chunk)
				}
				if !fn(chunk[:j]) {
					ok = false
					return
				}
				chunk = chunk[min(j+1, len(chunk)):]
			}
		}, ptype, r.entityID, after, sqliteChunk)
		if err != nil {
			return false, err
		}
	}
	return ok, nil
}

// join is the SQL expression of the given columns joined by ruleSep.
func (r *ruleReader) join(cols []string) string {
	if r.dialect == "mysql" {
		return "CONCAT_WS(CHAR(31), " + strings.Join(cols, ", ") + ")"
	}
	sep := " || char(31) || "
	if r.dialect == "postgres" {
		sep = " || chr(31) || "
	}
	return strings.Join(cols, sep)
}

// split cuts a joined row into the values of a and then b, the first made a
// string by first, the others interned; false when the row holds another
// number of values.
func (r *ruleReader) split(row []byte, a, b []string, first func([]byte) string) bool {
	n := 0
	for _, dst := range [2][]string{a, b} {
		for i := range dst {
			if n > 0 {
				if len(row) == 0 || row[0] != ruleSep {
					return false
				}
				row = row[1:]
			}
			j := bytes.IndexByte(row, ruleSep)
			if j < 0 {
				j = len(row)
			}
			if n == 0 {
				dst[i] = first(row[:j])
			} else {
				dst[i] = r.in.of(row[:j])
			}
			row = row[j:]
			n++
		}
	}
	return len(row) == 0
}

// streamRows runs a query and calls fn with each row's columns, valid until
// it returns.
func streamRows(db *gorm.DB, query string, fn func([]sql.RawBytes), args ...any) error {
	rows, err := db.Raw(query, args...).Rows()
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return translate(err)
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return translate(err)
		}
		fn(vals)
	}
	return translate(rows.Err())
}

// trimEmpty drops trailing empty values, as ruleOf does: a rule missing its
// last fields reads as the malformed rule it is.
func trimEmpty(vals []string) []string {
	n := len(vals)
	for n > 0 && vals[n-1] == "" {
		n--
	}
	return vals[:n]
}

// interner keeps one copy of each string read.
type interner map[string]string

func (in interner) of(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// tx is one transaction; write tells a write transaction (Update).
type tx struct {
	db    *gorm.DB
	write bool
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ---- entities ----

// InsertEntity stores a new entity; one without an incarnation gets a new
// one (set on e).
func (t *tx) InsertEntity(e *rolegate.Entity) error {
	inc := e.Incarnation
	if inc == "" {
		inc = uuid.NewString()
	}
	row := entityRow{ID: e.ID, Name: e.Name, Revision: e.Revision, CreatedAt: utc(e.CreatedAt), UpdatedAt: utc(e.UpdatedAt), Incarnation: inc}
	if err := t.db.Create(&row).Error; err != nil {
		return translate(err)
	}
	e.Incarnation = inc
	return nil
}

func entityOf(r entityRow) rolegate.Entity {
	return rolegate.Entity{ID: r.ID, Name: r.Name, Revision: r.Revision, CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
		Incarnation: r.Incarnation}
}

func (t *tx) GetEntity(id string) (rolegate.Entity, error) {
	var r entityRow
	if err := t.db.Where("id = ?", id).Take(&r).Error; err != nil {
		return rolegate.Entity{}, translate(err)
	}
	return entityOf(r), nil
}

func (t *tx) ListEntities(afterID string, limit int) ([]rolegate.Entity, error) {
	var rows []entityRow
	q := t.db.Order("id ASC").Limit(limit)
	if afterID != "" {
		q = q.Where("id > ?", afterID)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]rolegate.Entity, 0, len(rows))
	for _, r := range rows {
		out = append(out, entityOf(r))
	}
	return out, nil
}

func (t *tx) DeleteEntity(id string) error {
	steps := []func() error{
		func() error {
			return t.db.Where("(ptype = ? AND v1 = ?) OR (ptype = ? AND v2 = ?)", "p", id, "g", id).Delete(&gormadapter.CasbinRule{}).Error
		},
		func() error { return t.db.Where("entity_id = ?", id).Delete(&assignmentRow{}).Error },
		func() error { return t.db.Where("entity_id = ?", id).Delete(&userRow{}).Error },
		func() error { return t.db.Where("entity_id = ?", id).Delete(&roleRow{}).Error },
		func() error { return t.db.Where("entity_id = ?", id).Delete(&policyChangeRow{}).Error },
		func() error { return t.db.Where("entity_id = ?", id).Delete(&conditionRow{}).Error },
		func() error { return t.deleteHistory(id) },
		func() error { return t.db.Where("entity_id = ?", id).Delete(&constraintRow{}).Error },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return translate(err)
		}
	}
	res := t.db.Where("id = ?", id).Delete(&entityRow{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("entity %q: %w", id, rolegate.ErrNotFound)
	}
	return nil
}

func (t *tx) BumpRevision(entityID string, now time.Time) (int64, error) {
	res := t.db.Model(&entityRow{}).Where("id = ?", entityID).
		UpdateColumns(map[string]any{"revision": gorm.Expr("revision + 1"), "updated_at": utc(now)})
	if res.Error != nil {
		return 0, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, fmt.Errorf("entity %q: %w", entityID, rolegate.ErrNotFound)
	}
	var e entityRow
	if err := t.db.Select("revision").Where("id = ?", entityID).Take(&e).Error; err != nil {
		return 0, translate(err)
	}
	return e.Revision, nil
}

func (t *tx) EntityRevisions(ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []entityRow
	if err := t.db.Select("id", "revision").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	for _, r := range rows {
		out[r.ID] = r.Revision
	}
	return out, nil
}

// ---- roles ----

func roleRowOf(r *rolegate.Role) (roleRow, error) {
	perms, err := policy.EncodeRights(r.Permissions)
	if err != nil {
		return roleRow{}, err
	}
	row := roleRow{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Description: r.Description, Permissions: perms,
		IsDefault: r.Default, RoleType: r.RoleType, Scope: r.Scope, Status: r.Status, Version: r.Version,
		CreatedAt: utc(r.CreatedAt), CreatedBy: r.CreatedBy, UpdatedAt: utc(r.UpdatedAt), UpdatedBy: r.UpdatedBy,
		DeletedAt: utcPtr(r.DeletedAt), DeletedBy: r.DeletedBy}
	if r.Status == rolegate.StatusActive && r.Name != "" {
		name := r.Name
		row.NameKey = &name
	}
	return row, nil
}

func roleOf(r roleRow) (rolegate.Role, error) {
	perms, err := policy.DecodeRights(r.Permissions)
	if err != nil {
		return rolegate.Role{}, err
	}
	return rolegate.Role{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Description: r.Description, Permissions: perms,
		Default: r.IsDefault, RoleType: r.RoleType, Scope: r.Scope, Status: r.Status, Version: r.Version,
		CreatedAt: utc(r.CreatedAt), CreatedBy: r.CreatedBy, UpdatedAt: utc(r.UpdatedAt), UpdatedBy: r.UpdatedBy,
		DeletedAt: utcPtr(r.DeletedAt), DeletedBy: r.DeletedBy}, nil
}

func (t *tx) InsertRole(r *rolegate.Role) error {
	row, err := roleRowOf(r)
	if err != nil {
		return err
	}
	if err := t.db.Create(&row).Error; err != nil {
		return translate(err)
	}
	return t.count(r.EntityID, roleCount, activeRole(row.Status))
}

// activeRole is 1 for an active role's status, which the role counter counts.
func activeRole(status string) int64 {
	if status == rolegate.StatusActive {
		return 1
	}
	return 0
}

func (t *tx) UpdateRole(r *rolegate.Role) error {
	row, err := roleRowOf(r)
	if err != nil {
		return err
	}
	var old roleRow
	if err := t.db.Select("status").Where("entity_id = ? AND id = ?", r.EntityID, r.ID).Take(&old).Error; err != nil {
		return fmt.Errorf("role %q: %w", r.ID, translate(err))
	}
	if err := t.count(r.EntityID, roleCount, activeRole(row.Status)-activeRole(old.Status)); err != nil {
		return err
	}
	res := t.db.Model(&roleRow{}).Where("entity_id = ? AND id = ?", r.EntityID, r.ID).Select("*").Omit("id", "entity_id").Updates(&row)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("role %q: %w", r.ID, rolegate.ErrNotFound)
	}
	return nil
}

func (t *tx) GetRole(entityID, roleID string) (rolegate.Role, error) {
	var r roleRow
	if err := t.db.Where("entity_id = ? AND id = ?", entityID, roleID).Take(&r).Error; err != nil {
		return rolegate.Role{}, translate(err)
	}
	return roleOf(r)
}

// likePattern is a case-insensitive substring pattern, with LIKE's wildcards
// escaped by "!".
func likePattern(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

var timeOps = map[string]string{"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// keyset orders q by (column, id) and starts it strictly after the cursor.
func keyset(q *gorm.DB, column string, isTime bool, p policy.Page) (*gorm.DB, error) {
	dir, op := "ASC", ">"
	if p.Desc {
		dir, op = "DESC", "<"
	}
	if p.After != nil {
		var v any = p.After.Value
		if isTime {
			tm, err := time.Parse(time.RFC3339Nano, p.After.Value)
			if err != nil {
				return nil, fmt.Errorf("cursor %q: %w", p.After.Value, rolegate.ErrNotFound)
			}
			v = tm.UTC()
		}
		if column == "id" {
			q = q.Where("id "+op+" ?", p.After.ID)
		} else {
			q = q.Where(fmt.Sprintf("(%s %s ? OR (%s = ? AND id %s ?))", column, op, column, op), v, v, p.After.ID)
		}
	}
	if column == "id" {
		q = q.Order("id " + dir)
	} else {
		q = q.Order(column + " " + dir).Order("id " + dir)
	}
	if p.Limit > 0 {
		q = q.Limit(p.Limit)
	}
	return q, nil
}

func (t *tx) ListRoles(entityID string, f policy.RoleFilter, p policy.Page) ([]rolegate.Role, error) {
	q := t.db.Where("entity_id = ?", entityID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Name != "" {
		q = q.Where("name = ?", f.Name)
	}
	if f.Search != "" {
		pat := likePattern(f.Search)
		q = q.Where("(LOWER(name) LIKE ? ESCAPE '!' OR LOWER(description) LIKE ? ESCAPE '!')", pat, pat)
	}
	if f.RoleType != "" {
		q = q.Where("role_type = ?", f.RoleType)
	}
	if f.Default != nil {
		q = q.Where("is_default = ?", *f.Default)
	}
	if f.Scope != "" {
		q = q.Where("scope = ?", f.Scope)
	}
	if f.IDs != nil {
		q = q.Where("id IN ?", f.IDs)
	}
	for _, b := range f.CreatedAt {
		op, ok := timeOps[b.Op]
		if !ok {
			return nil, fmt.Errorf("unknown time comparison %q", b.Op)
		}
		q = q.Where("created_at "+op+" ?", b.Time.UTC())
	}
	column := p.Sort
	switch column {
	case "", "created_at":
		column = "created_at"
	case "updated_at", "name":
	default:
		return nil, fmt.Errorf("cannot sort roles by %q", p.Sort)
	}
	q, err := keyset(q, column, column != "name", p)
	if err != nil {
		return []rolegate.Role{}, nil // a cursor that cannot be read starts nowhere
	}
	var rows []roleRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]rolegate.Role, 0, len(rows))
	for _, r := range rows {
		role, err := roleOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, role)
	}
	return out, nil
}

// ---- users ----

func userRowOf(u *rolegate.User) (userRow, error) {
	perms, err := policy.EncodeRights(u.Permissions)
	if err != nil {
		return userRow{}, err
	}
	attrs, err := policy.EncodeAttributes(u.Attributes)
	if err != nil {
		return userRow{}, err
	}
	return userRow{EntityID: u.EntityID, ID: u.ID, Email: u.Email, Name: u.Name, Permissions: perms,
		CreatedAt: utc(u.CreatedAt), CreatedBy: u.CreatedBy, UpdatedAt: utc(u.UpdatedAt), LastSeenAt: utcPtr(u.LastSeenAt),
		Attributes: attrs}, nil
}

func userOf(r userRow) (rolegate.User, error) {
	perms, err := policy.DecodeRights(r.Permissions)
	if err != nil {
		return rolegate.User{}, err
	}
	attrs, err := policy.DecodeAttributes(r.Attributes)
	if err != nil {
		return rolegate.User{}, err
	}
	return rolegate.User{ID: r.ID, EntityID: r.EntityID, Email: r.Email, Name: r.Name, Permissions: perms,
		CreatedAt: utc(r.CreatedAt), CreatedBy: r.CreatedBy, UpdatedAt: utc(r.UpdatedAt), LastSeenAt: utcPtr(r.LastSeenAt),
		Attributes: attrs}, nil
}

func (t *tx) InsertUser(u *rolegate.User) error {
	row, err := userRowOf(u)
	if err != nil {
		return err
	}
	if err := t.db.Create(&row).Error; err != nil {
		return translate(err)
	}
	return t.count(u.EntityID, userCount, 1)
}

func (t *tx) UpdateUser(u *rolegate.User) error {
	row, err := userRowOf(u)
	if err != nil {
		return err
	}
	res := t.db.Model(&userRow{}).Where("entity_id = ? AND id = ?", u.EntityID, u.ID).Select("*").Omit("entity_id", "id", "created_at", "created_by").Updates(&row)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", u.ID, rolegate.ErrNotFound)
	}
	return nil
}

func (t *tx) GetUser(entityID, userID string) (rolegate.User, error) {
	var r userRow
	if err := t.db.Where("entity_id = ? AND id = ?", entityID, userID).Take(&r).Error; err != nil {
		return rolegate.User{}, translate(err)
	}
	return userOf(r)
}

func (t *tx) ListUsers(entityID string, f policy.UserFilter, p policy.Page) ([]rolegate.User, error) {
	q := t.db.Where("entity_id = ?", entityID)
	if f.Search != "" {
		pat := likePattern(f.Search)
		q = q.Where("(LOWER(email) LIKE ? ESCAPE '!' OR LOWER(name) LIKE ? ESCAPE '!')", pat, pat)
	}
	if f.IDs != nil {
		q = q.Where("id IN ?", f.IDs)
	}
	q, err := keyset(q, "id", false, p)
	if err != nil {
		return nil, err
	}
	var rows []userRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]rolegate.User, 0, len(rows))
	for _, r := range rows {
		u, err := userOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (t *tx) DeleteUser(entityID, userID string) error {
	if err := t.db.Where("entity_id = ? AND user_id = ?", entityID, userID).Delete(&assignmentRow{}).Error; err != nil {
		return translate(err)
	}
	res := t.db.Where("entity_id = ? AND id = ?", entityID, userID).Delete(&userRow{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", userID, rolegate.ErrNotFound)
	}
	return t.count(entityID, userCount, -res.RowsAffected)
}

// ---- assignments ----

func (t *tx) PutAssignment(a *rolegate.Assignment) error {
	var n int64
	if err := t.db.Model(&assignmentRow{}).Where("entity_id = ? AND user_id = ? AND role_id = ? AND scope = ?",
		a.EntityID, a.UserID, a.RoleID, a.Scope).Count(&n).Error; err != nil {
		return translate(err)
	}
	if n > 0 {
		return translate(t.db.Model(&assignmentRow{}).Where("entity_id = ? AND user_id = ? AND role_id = ? AND scope = ?",
			a.EntityID, a.UserID, a.RoleID, a.Scope).Update("expires_at", utcPtr(a.ExpiresAt)).Error)
	}
	row := assignmentRow{EntityID: a.EntityID, UserID: a.UserID, RoleID: a.RoleID, Scope: a.Scope, CreatedAt: utc(a.CreatedAt), ExpiresAt: utcPtr(a.ExpiresAt)}
	return translate(t.db.Create(&row).Error)
}

func (t *tx) DeleteAssignment(a rolegate.Assignment) error {
	res := t.db.Where("entity_id = ? AND user_id = ? AND role_id = ? AND scope = ?", a.EntityID, a.UserID, a.RoleID, a.Scope).Delete(&assignmentRow{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("assignment: %w", rolegate.ErrNotFound)
	}
	return nil
}

func (t *tx) ListAssignments(entityID string, f policy.AssignmentFilter) ([]rolegate.Assignment, error) {
	q := t.db.Where("entity_id = ?", entityID)
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.UserIDs != nil {
		q = q.Where("user_id IN ?", f.UserIDs)
	}
	if f.RoleID != "" {
		q = q.Where("role_id = ?", f.RoleID)
	}
	if f.Scope != nil {
		q = q.Where("scope = ?", *f.Scope)
	}
	var rows []assignmentRow
	if err := q.Order("user_id, scope, role_id").Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]rolegate.Assignment, 0, len(rows))
	for _, r := range rows {
		out = append(out, assignmentOf(r))
	}
	return out, nil
}

func assignmentOf(r assignmentRow) rolegate.Assignment {
	return rolegate.Assignment{EntityID: r.EntityID, UserID: r.UserID, RoleID: r.RoleID, Scope: r.Scope, CreatedAt: utc(r.CreatedAt),
		ExpiresAt: utcPtr(r.ExpiresAt)}
}

func (t *tx) ExpiredAssignments(before time.Time, limit int) ([]rolegate.Assignment, error) {
	var rows []assignmentRow
	if err := t.db.Where("expires_at IS NOT NULL AND expires_at <= ?", utc(before)).Order("expires_at").Limit(limit).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]rolegate.Assignment, 0, len(rows))
	for _, r := range rows {
		out = append(out, assignmentOf(r))
	}
	return out, nil
}

// ---- rules ----

// casbinRow lays a rule out in casbin_rule's columns.
func casbinRow(r rolegate.Rule) (gormadapter.CasbinRule, error) {
	if len(r.Values) == 0 || len(r.Values) > 6 {
		return gormadapter.CasbinRule{}, fmt.Errorf("rule %q has %d values", r.String(), len(r.Values))
	}
	v := make([]string, 6)
	for i, s := range r.Values {
		if s == "" || len(s) > 100 {
			return gormadapter.CasbinRule{}, fmt.Errorf("rule %q: value %d is empty or longer than 100", r.String(), i)
		}
		v[i] = s
	}
	return gormadapter.CasbinRule{Ptype: r.PType, V0: v[0], V1: v[1], V2: v[2], V3: v[3], V4: v[4], V5: v[5]}, nil
}

func ruleOf(c gormadapter.CasbinRule) rolegate.Rule {
	vals := []string{c.V0, c.V1, c.V2, c.V3, c.V4, c.V5}
	n := len(vals)
	for n > 0 && vals[n-1] == "" {
		n--
	}
	return rolegate.Rule{PType: c.Ptype, Values: vals[:n]}
}

// AddRules inserts in chunks (chunkRows): SQLite refuses statements with too
// many variables.
func (t *tx) AddRules(rules []rolegate.Rule) error {
	if len(rules) == 0 {
		return nil
	}
	rows := make([]gormadapter.CasbinRule, 0, len(rules))
	for _, r := range rules {
		row, err := casbinRow(r)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if err := t.db.CreateInBatches(rows, chunkRows(t.db, 7)).Error; err != nil {
		return translate(err)
	}
	return t.countRules(rules, 1)
}

func (t *tx) RemoveRules(rules []rolegate.Rule) error {
	removed := map[string]int64{}
	for _, r := range rules {
		row, err := casbinRow(r)
		if err != nil {
			return err
		}
		res := t.db.Where("ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?",
			row.Ptype, row.V0, row.V1, row.V2, row.V3, row.V4, row.V5).Delete(&gormadapter.CasbinRule{})
		if res.Error != nil {
			return translate(res.Error)
		}
		removed[ruleEntity(r)] -= res.RowsAffected
	}
	for id, n := range removed {
		if err := t.count(id, ruleCount, n); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) ReplaceSubjectRules(entityID, subject string, rules []rolegate.Rule) error {
	res := t.db.Where("ptype = ? AND v0 = ? AND v1 = ?", "p", subject, entityID).Delete(&gormadapter.CasbinRule{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if err := t.count(entityID, ruleCount, -res.RowsAffected); err != nil {
		return err
	}
	return t.AddRules(rules)
}

// ---- settings ----

func (t *tx) GetSetting(key string) (string, error) {
	var r settingRow
	if err := t.db.Where("name = ?", key).Take(&r).Error; err != nil {
		return "", translate(err)
	}
	return r.Value, nil
}

func (t *tx) ReplaceSetting(key, old, value string) error {
	res := t.db.Model(&settingRow{}).Where("name = ? AND value = ?", key, old).UpdateColumn("value", value)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("setting %q with the value read: %w", key, rolegate.ErrNotFound)
	}
	return nil
}

func (t *tx) PutSetting(key, value string) error {
	err := t.db.Create(&settingRow{Name: key, Value: value}).Error
	if err != nil && !errors.Is(translate(err), rolegate.ErrDuplicate) {
		return translate(err)
	}
	return translate(err)
}
