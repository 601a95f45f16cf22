package memstore

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// tx is one transaction: a copy of the state, whose tables a write copies
// before changing them.
type tx struct {
	st       state
	writable bool
	done     bool
	// owned are the tables (bits of tEntities...) this write has copied;
	// ownedRules and ownedChanges the entities whose inner maps it has.
	owned        int
	ownedRules   map[string]bool
	ownedChanges map[string]bool
	ownedHistory map[string]bool
}

var _ policy.Tx = (*tx)(nil)

// writing is checked by every write, with the tables it changes.
func (t *tx) writing(tables int) error {
	if !t.writable {
		return errReadOnly
	}
	if t.done {
		return fmt.Errorf("memstore: a write after its transaction ended")
	}
	t.own(tables)
	return nil
}

// limit cuts rows to n, as SQL's LIMIT does (negative: no limit).
func limit[T any](rows []T, n int) []T {
	if n >= 0 && len(rows) > n {
		return rows[:n]
	}
	return rows
}

// ---- entities ----

func (t *tx) InsertEntity(e *rolegate.Entity) error {
	if err := t.writing(tEntities); err != nil {
		return err
	}
	if _, ok := t.st.entities[e.ID]; ok {
		return duplicate("entity %q", e.ID)
	}
	inc := e.Incarnation
	if inc == "" {
		inc = uuid.NewString()
	}
	t.st.entities[e.ID] = rolegate.Entity{ID: e.ID, Name: e.Name, Revision: e.Revision, CreatedAt: utc(e.CreatedAt),
		UpdatedAt: utc(e.UpdatedAt), Incarnation: inc}
	e.Incarnation = inc
	return nil
}

func (t *tx) GetEntity(id string) (rolegate.Entity, error) {
	e, ok := t.st.entities[id]
	if !ok {
		return rolegate.Entity{}, notFound("entity %q", id)
	}
	return e, nil
}

func (t *tx) ListEntities(afterID string, n int) ([]rolegate.Entity, error) {
	out := []rolegate.Entity{}
	for id, e := range t.st.entities {
		if afterID == "" || id > afterID {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return limit(out, n), nil
}

// DeleteEntity removes the entity's rules, assignments, users, roles and
// change log, then the entity; its audit events and clients stay.
func (t *tx) DeleteEntity(id string) error {
	if err := t.writing(tEntities | tRoles | tUsers | tAssignments | tRules | tChanges | tConditions | tHistory | tConstraints); err != nil {
		return err
	}
	delete(t.st.history, id)
	delete(t.ownedHistory, id)
	for k, c := range t.st.constraints {
		if c.EntityID == id {
			delete(t.st.constraints, k)
		}
	}
	delete(t.st.rules, id)
	delete(t.st.conditions, id)
	delete(t.st.changes, id)
	delete(t.ownedRules, id)
	delete(t.ownedChanges, id)
	for k := range t.st.assignments {
		if k.entityID == id {
			delete(t.st.assignments, k)
		}
	}
	for k := range t.st.users {
		if k.entityID == id {
			delete(t.st.users, k)
		}
	}
	for k, r := range t.st.roles {
		if r.EntityID == id {
			delete(t.st.roles, k)
		}
	}
	if _, ok := t.st.entities[id]; !ok {
		return notFound("entity %q", id)
	}
	delete(t.st.entities, id)
	return nil
}

func (t *tx) BumpRevision(entityID string, now time.Time) (int64, error) {
	if err := t.writing(tEntities); err != nil {
		return 0, err
	}
	e, ok := t.st.entities[entityID]
	if !ok {
		return 0, notFound("entity %q", entityID)
	}
	e.Revision++
	e.UpdatedAt = utc(now)
	t.st.entities[entityID] = e
	return e.Revision, nil
}

func (t *tx) EntityRevisions(ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	for _, id := range ids {
		if e, ok := t.st.entities[id]; ok {
			out[id] = e.Revision
		}
	}
	return out, nil
}

// EntityCounts counts the entity's rows: the SQL stores keep counters on the
// entity's row, which are these counts unless changed behind their back.
func (t *tx) EntityCounts(entityID string) (policy.EntityCounts, error) {
	if _, ok := t.st.entities[entityID]; !ok {
		return policy.EntityCounts{}, notFound("entity %q", entityID)
	}
	var c policy.EntityCounts
	for _, r := range t.st.roles {
		if r.EntityID == entityID && r.Status == rolegate.StatusActive {
			c.Roles++
		}
	}
	for k := range t.st.users {
		if k.entityID == entityID {
			c.Users++
		}
	}
	for k := range t.st.rules[entityID] {
		if k.ptype == "p" || k.ptype == "g" {
			c.Rules++
		}
	}
	return c, nil
}

// RecountEntity has nothing to do: the counts are counted when read.
func (t *tx) RecountEntity(entityID string) error { return t.writing(0) }

// ---- roles ----

func roleRowOf(r *rolegate.Role) (roleRow, error) {
	rights, err := policy.EncodeRights(r.Permissions)
	if err != nil {
		return roleRow{}, err
	}
	row := roleRow{Role: *r, rights: rights}
	row.Permissions = rolegate.Permissions{}
	row.CreatedAt, row.UpdatedAt, row.DeletedAt = utc(r.CreatedAt), utc(r.UpdatedAt), utcPtr(r.DeletedAt)
	return row, nil
}

func (r roleRow) role() (rolegate.Role, error) {
	perms, err := policy.DecodeRights(r.rights)
	if err != nil {
		return rolegate.Role{}, err
	}
	out := r.Role
	out.Permissions, out.DeletedAt = perms, utcPtr(r.DeletedAt)
	return out, nil
}

// nameTaken reports whether an active role of the entity other than id has
// the name (the SQL stores' unique index over active roles' names).
func (t *tx) nameTaken(r roleRow) bool {
	if r.Status != rolegate.StatusActive || r.Name == "" {
		return false
	}
	for id, o := range t.st.roles {
		if id != r.ID && o.EntityID == r.EntityID && o.Status == rolegate.StatusActive && o.Name == r.Name {
			return true
		}
	}
	return false
}

func (t *tx) InsertRole(r *rolegate.Role) error {
	row, err := roleRowOf(r)
	if err != nil {
		return err
	}
	if err := t.writing(tRoles); err != nil {
		return err
	}
	if _, ok := t.st.roles[r.ID]; ok || t.nameTaken(row) {
		return duplicate("role %q", r.Name)
	}
	t.st.roles[r.ID] = row
	return nil
}

func (t *tx) UpdateRole(r *rolegate.Role) error {
	row, err := roleRowOf(r)
	if err != nil {
		return err
	}
	if err := t.writing(tRoles); err != nil {
		return err
	}
	if old, ok := t.st.roles[r.ID]; !ok || old.EntityID != r.EntityID {
		return notFound("role %q", r.ID)
	}
	if t.nameTaken(row) {
		return duplicate("role %q", r.Name)
	}
	t.st.roles[r.ID] = row
	return nil
}

func (t *tx) GetRole(entityID, roleID string) (rolegate.Role, error) {
	r, ok := t.st.roles[roleID]
	if !ok || r.EntityID != entityID {
		return rolegate.Role{}, notFound("role %q", roleID)
	}
	return r.role()
}

var timeOps = map[string]func(c int) bool{
	"eq": func(c int) bool { return c == 0 }, "gt": func(c int) bool { return c > 0 }, "gte": func(c int) bool { return c >= 0 },
	"lt": func(c int) bool { return c < 0 }, "lte": func(c int) bool { return c <= 0 },
}

// contains is SQL's case-insensitive LIKE of a substring.
func contains(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }

func (t *tx) ListRoles(entityID string, f policy.RoleFilter, p policy.Page) ([]rolegate.Role, error) {
	for _, b := range f.CreatedAt {
		if _, ok := timeOps[b.Op]; !ok {
			return nil, fmt.Errorf("unknown time comparison %q", b.Op)
		}
	}
	column := p.Sort
	switch column {
	case "", "created_at":
		column = "created_at"
	case "updated_at", "name":
	default:
		return nil, fmt.Errorf("cannot sort roles by %q", p.Sort)
	}
	var rows []roleRow
	for _, r := range t.st.roles {
		if r.EntityID != entityID || f.Status != "" && r.Status != f.Status || f.Name != "" && r.Name != f.Name ||
			f.Search != "" && !contains(r.Name, f.Search) && !contains(r.Description, f.Search) ||
			f.RoleType != "" && r.RoleType != f.RoleType || f.Default != nil && r.Default != *f.Default ||
			f.Scope != "" && r.Scope != f.Scope || f.IDs != nil && !slices.Contains(f.IDs, r.ID) {
			continue
		}
		in := true
		for _, b := range f.CreatedAt {
			in = in && timeOps[b.Op](r.CreatedAt.Compare(b.Time))
		}
		if in {
			rows = append(rows, r)
		}
	}
	key := func(r roleRow) sortKey {
		switch column {
		case "name":
			return sortKey{s: r.Name, id: r.ID}
		case "updated_at":
			return sortKey{t: r.UpdatedAt, isTime: true, id: r.ID}
		}
		return sortKey{t: r.CreatedAt, isTime: true, id: r.ID}
	}
	rows, ok := keyset(rows, key, column != "name", false, p)
	if !ok {
		return []rolegate.Role{}, nil // a cursor that cannot be read starts nowhere
	}
	out := make([]rolegate.Role, 0, len(rows))
	for _, r := range rows {
		role, err := r.role()
		if err != nil {
			return nil, err
		}
		out = append(out, role)
	}
	return out, nil
}

// sortKey is a row's place in a keyset order: its sort value, then its id.
type sortKey struct {
	s      string
	t      time.Time
	isTime bool
	id     string
}

func (a sortKey) cmp(b sortKey) int {
	c := strings.Compare(a.s, b.s)
	if a.isTime {
		c = a.t.Compare(b.t)
	}
	if c == 0 {
		c = strings.Compare(a.id, b.id)
	}
	return c
}

// keyset orders rows by key as p says, keeps those strictly after p.After,
// and cuts the page; ok is false for a time cursor that does not parse. Rows
// ordered by id alone (byID) read the cursor's id only, as the SQL stores do.
func keyset[T any](rows []T, key func(T) sortKey, isTime, byID bool, p policy.Page) (out []T, ok bool) {
	sign := 1
	if p.Desc {
		sign = -1
	}
	if p.After != nil {
		after := sortKey{s: p.After.Value, isTime: isTime, id: p.After.ID}
		if byID {
			after.s = ""
		} else if isTime {
			tm, err := time.Parse(time.RFC3339Nano, p.After.Value)
			if err != nil {
				return nil, false
			}
			after.s, after.t = "", tm
		}
		kept := rows[:0:0]
		for _, r := range rows {
			if key(r).cmp(after)*sign > 0 {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	sort.Slice(rows, func(i, j int) bool { return key(rows[i]).cmp(key(rows[j]))*sign < 0 })
	if p.Limit > 0 {
		rows = limit(rows, p.Limit)
	}
	return rows, true
}

// ---- users ----

func userRowOf(u *rolegate.User) (userRow, error) {
	rights, err := policy.EncodeRights(u.Permissions)
	if err != nil {
		return userRow{}, err
	}
	attrs, err := policy.EncodeAttributes(u.Attributes)
	if err != nil {
		return userRow{}, err
	}
	row := userRow{User: *u, rights: rights, attrs: attrs}
	row.Permissions, row.Roles, row.Attributes = rolegate.Permissions{}, nil, nil
	row.CreatedAt, row.UpdatedAt, row.LastSeenAt = utc(u.CreatedAt), utc(u.UpdatedAt), utcPtr(u.LastSeenAt)
	return row, nil
}

func (r userRow) user() (rolegate.User, error) {
	perms, err := policy.DecodeRights(r.rights)
	if err != nil {
		return rolegate.User{}, err
	}
	attrs, err := policy.DecodeAttributes(r.attrs)
	if err != nil {
		return rolegate.User{}, err
	}
	out := r.User
	out.Permissions, out.LastSeenAt, out.Attributes = perms, utcPtr(r.LastSeenAt), attrs
	return out, nil
}

func (t *tx) InsertUser(u *rolegate.User) error {
	return t.InsertUsers([]rolegate.User{*u})
}

func (t *tx) InsertUsers(us []rolegate.User) error {
	rows := make([]userRow, 0, len(us))
	for i := range us {
		row, err := userRowOf(&us[i])
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if err := t.writing(tUsers); err != nil {
		return err
	}
	for _, row := range rows {
		k := userKey{row.EntityID, row.ID}
		if _, ok := t.st.users[k]; ok {
			return duplicate("user %q", row.ID)
		}
		t.st.users[k] = row
	}
	return nil
}

// UpdateUser keeps the stored user's creation, as the SQL stores do.
func (t *tx) UpdateUser(u *rolegate.User) error {
	row, err := userRowOf(u)
	if err != nil {
		return err
	}
	if err := t.writing(tUsers); err != nil {
		return err
	}
	k := userKey{u.EntityID, u.ID}
	old, ok := t.st.users[k]
	if !ok {
		return notFound("user %q", u.ID)
	}
	row.CreatedAt, row.CreatedBy = old.CreatedAt, old.CreatedBy
	t.st.users[k] = row
	return nil
}

func (t *tx) GetUser(entityID, userID string) (rolegate.User, error) {
	r, ok := t.st.users[userKey{entityID, userID}]
	if !ok {
		return rolegate.User{}, notFound("user %q", userID)
	}
	return r.user()
}

func (t *tx) ListUsers(entityID string, f policy.UserFilter, p policy.Page) ([]rolegate.User, error) {
	var rows []userRow
	for k, r := range t.st.users {
		if k.entityID != entityID || f.Search != "" && !contains(r.Email, f.Search) && !contains(r.Name, f.Search) ||
			f.IDs != nil && !slices.Contains(f.IDs, r.ID) {
			continue
		}
		rows = append(rows, r)
	}
	rows, _ = keyset(rows, func(r userRow) sortKey { return sortKey{id: r.ID} }, false, true, p)
	out := make([]rolegate.User, 0, len(rows))
	for _, r := range rows {
		u, err := r.user()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// DeleteUser removes the user's assignments, then the user.
func (t *tx) DeleteUser(entityID, userID string) error {
	if err := t.writing(tUsers | tAssignments); err != nil {
		return err
	}
	for k := range t.st.assignments {
		if k.entityID == entityID && k.userID == userID {
			delete(t.st.assignments, k)
		}
	}
	k := userKey{entityID, userID}
	if _, ok := t.st.users[k]; !ok {
		return notFound("user %q", userID)
	}
	delete(t.st.users, k)
	return nil
}

// ---- assignments ----

func (t *tx) PutAssignment(a *rolegate.Assignment) error {
	if err := t.writing(tAssignments); err != nil {
		return err
	}
	k := keyOf(a)
	if old, ok := t.st.assignments[k]; ok {
		old.ExpiresAt = utcPtr(a.ExpiresAt)
		t.st.assignments[k] = old
		return nil
	}
	t.st.assignments[k] = copyAssignment(*a)
	return nil
}

func (t *tx) DeleteAssignment(a rolegate.Assignment) error {
	if err := t.writing(tAssignments); err != nil {
		return err
	}
	k := keyOf(&a)
	if _, ok := t.st.assignments[k]; !ok {
		return notFound("assignment")
	}
	delete(t.st.assignments, k)
	return nil
}

func (t *tx) ListAssignments(entityID string, f policy.AssignmentFilter) ([]rolegate.Assignment, error) {
	out := []rolegate.Assignment{}
	for k, a := range t.st.assignments {
		if k.entityID != entityID || f.UserID != "" && k.userID != f.UserID || f.UserIDs != nil && !slices.Contains(f.UserIDs, k.userID) ||
			f.RoleID != "" && k.roleID != f.RoleID || f.Scope != nil && k.scope != *f.Scope {
			continue
		}
		out = append(out, copyAssignment(a))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.UserID != b.UserID {
			return a.UserID < b.UserID
		}
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		return a.RoleID < b.RoleID
	})
	return out, nil
}

// InsertAssignments stores new assignments without an expiry, as the SQL
// stores' bulk insert does (the import assigns for good).
func (t *tx) InsertAssignments(as []rolegate.Assignment) error {
	if err := t.writing(tAssignments); err != nil {
		return err
	}
	for _, a := range as {
		k := keyOf(&a)
		if _, ok := t.st.assignments[k]; ok {
			return duplicate("assignment")
		}
		a.ExpiresAt = nil
		t.st.assignments[k] = copyAssignment(a)
	}
	return nil
}

func (t *tx) ExpiredAssignments(before time.Time, n int) ([]rolegate.Assignment, error) {
	out := []rolegate.Assignment{}
	for _, a := range t.st.assignments {
		if a.ExpiresAt != nil && !a.ExpiresAt.After(before) {
			out = append(out, copyAssignment(a))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].ExpiresAt.Compare(*out[j].ExpiresAt); c != 0 {
			return c < 0
		}
		return keyLess(keyOf(&out[i]), keyOf(&out[j]))
	})
	return limit(out, n), nil
}

func keyLess(a, b assignmentKey) bool {
	return strings.Join([]string{a.entityID, a.userID, a.roleID, a.scope}, "\x00") <
		strings.Join([]string{b.entityID, b.userID, b.roleID, b.scope}, "\x00")
}

// ---- rules ----

// ruleKeyOf lays a rule out in casbin_rule's columns, refusing what the SQL
// stores refuse.
func ruleKeyOf(r rolegate.Rule) (ruleKey, error) {
	if len(r.Values) == 0 || len(r.Values) > 6 {
		return ruleKey{}, fmt.Errorf("rule %q has %d values", r.String(), len(r.Values))
	}
	k := ruleKey{ptype: r.PType}
	for i, s := range r.Values {
		if s == "" || len(s) > 100 {
			return ruleKey{}, fmt.Errorf("rule %q: value %d is empty or longer than 100", r.String(), i)
		}
		k.v[i] = s
	}
	return k, nil
}

func (t *tx) AddRules(rules []rolegate.Rule) error {
	if len(rules) == 0 {
		return nil
	}
	keys := make([]ruleKey, 0, len(rules))
	for _, r := range rules {
		k, err := ruleKeyOf(r)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if err := t.writing(tRules); err != nil {
		return err
	}
	for _, k := range keys {
		rs := t.ownRules(k.entity())
		if _, ok := rs[k]; ok {
			return duplicate("rule %q", k.rule().String())
		}
		t.st.ruleSeq++
		rs[k] = t.st.ruleSeq
	}
	return nil
}

func (t *tx) RemoveRules(rules []rolegate.Rule) error {
	keys := make([]ruleKey, 0, len(rules))
	for _, r := range rules {
		k, err := ruleKeyOf(r)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if err := t.writing(tRules); err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := t.st.rules[k.entity()][k]; ok {
			delete(t.ownRules(k.entity()), k)
		}
	}
	return nil
}

func (t *tx) ReplaceSubjectRules(entityID, subject string, rules []rolegate.Rule) error {
	if err := t.writing(tRules); err != nil {
		return err
	}
	rs := t.ownRules(entityID)
	for k := range rs {
		if k.ptype == "p" && k.v[0] == subject {
			delete(rs, k)
		}
	}
	return t.AddRules(rules)
}

func (t *tx) PutConditions(entityID string, conds map[string]string) error {
	if err := t.writing(0); err != nil {
		return err
	}
	have := t.st.conditions[entityID]
	var next map[string]string
	for h, src := range conds {
		if _, ok := have[h]; ok {
			continue
		}
		if next == nil {
			t.own(tConditions)
			next = maps.Clone(have)
			if next == nil {
				next = map[string]string{}
			}
		}
		next[h] = src
	}
	if next != nil {
		t.st.conditions[entityID] = next
	}
	return nil
}

func (t *tx) EntityConditions(entityID string) (map[string]string, error) {
	if c := t.st.conditions[entityID]; len(c) > 0 {
		return maps.Clone(c), nil
	}
	return nil, nil
}

func (t *tx) EntityRules(entityID string) ([]rolegate.Rule, error) {
	out := []rolegate.Rule{}
	for _, k := range t.st.entityRules(entityID) {
		out = append(out, k.rule())
	}
	engine.SortRules(out)
	return out, nil
}

func (t *tx) StrayRuleEntities(afterID string, n int) ([]string, error) {
	var ids []string
	for id, rs := range t.st.rules {
		if id <= afterID || len(rs) == 0 {
			continue
		}
		if _, ok := t.st.entities[id]; ok {
			continue
		}
		for k := range rs {
			if k.ptype == "p" || k.ptype == "g" {
				ids = append(ids, id)
				break
			}
		}
	}
	sort.Strings(ids)
	return limit(ids, n), nil
}

// ---- the change log ----

func (t *tx) AppendPolicyChange(c changes.Entry, keep int) error {
	if err := t.writing(tChanges); err != nil {
		return err
	}
	log := t.ownChanges(c.EntityID)
	if _, ok := log[c.Revision]; ok {
		return duplicate("change of entity %q at revision %d", c.EntityID, c.Revision)
	}
	log[c.Revision] = copyChange(c)
	for rev := range log {
		if rev <= c.Revision-int64(keep) {
			delete(log, rev)
		}
	}
	return nil
}

// ---- clients ----

func (t *tx) InsertClient(c *auth.Client) error {
	if err := t.writing(tClients); err != nil {
		return err
	}
	if _, ok := t.st.clients[c.ID]; ok {
		return duplicate("client %q", c.ID)
	}
	t.st.clients[c.ID] = copyClient(*c)
	return nil
}

func (t *tx) GetClient(id string) (auth.Client, error) {
	c, ok := t.st.clients[id]
	if !ok {
		return auth.Client{}, notFound("client %q", id)
	}
	return copyClient(c), nil
}

func (t *tx) ListClients(afterID string, n int) ([]auth.Client, error) {
	out := []auth.Client{}
	for id, c := range t.st.clients {
		if id > afterID {
			out = append(out, copyClient(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return limit(out, n), nil
}

func (t *tx) DeleteClient(id string) error {
	if err := t.writing(tClients); err != nil {
		return err
	}
	if _, ok := t.st.clients[id]; !ok {
		return rolegate.ErrNotFound
	}
	delete(t.st.clients, id)
	return nil
}

func (t *tx) DeleteEntityClients(entityID string) ([]auth.Client, error) {
	if err := t.writing(tClients); err != nil {
		return nil, err
	}
	var out []auth.Client
	for id, c := range t.st.clients {
		if c.EntityID == entityID {
			out = append(out, copyClient(c))
			delete(t.st.clients, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ---- settings ----

func (t *tx) GetSetting(key string) (string, error) {
	v, ok := t.st.settings[key]
	if !ok {
		return "", notFound("setting %q", key)
	}
	return v, nil
}

func (t *tx) PutSetting(key, value string) error {
	if err := t.writing(tSettings); err != nil {
		return err
	}
	if _, ok := t.st.settings[key]; ok {
		return duplicate("setting %q", key)
	}
	t.st.settings[key] = value
	return nil
}

func (t *tx) ReplaceSetting(key, old, value string) error {
	if err := t.writing(tSettings); err != nil {
		return err
	}
	if v, ok := t.st.settings[key]; !ok || v != old {
		return notFound("setting %q with the value read", key)
	}
	t.st.settings[key] = value
	return nil
}

// ---- audit events ----

func (t *tx) InsertAuditEvent(e *policy.AuditEvent) error {
	return t.InsertAuditEvents([]policy.AuditEvent{*e})
}

func (t *tx) InsertAuditEvents(es []policy.AuditEvent) error {
	if err := t.writing(tAudit); err != nil {
		return err
	}
	for _, e := range es {
		if _, ok := t.st.audit[e.ID]; ok {
			return duplicate("audit event %q", e.ID)
		}
		t.st.audit[e.ID] = copyEvent(e)
	}
	return nil
}

func (t *tx) ListAuditEvents(entityID string, f policy.AuditFilter, p policy.Page) ([]policy.AuditEvent, error) {
	if p.Sort != "" && p.Sort != "time" {
		return nil, fmt.Errorf("cannot sort audit events by %q", p.Sort)
	}
	var rows []policy.AuditEvent
	for _, e := range t.st.audit {
		if e.EntityID == entityID && (f.ObjectType == "" || e.ObjectType == f.ObjectType) && (f.Actor == "" || e.Actor == f.Actor) {
			rows = append(rows, e)
		}
	}
	rows, ok := keyset(rows, func(e policy.AuditEvent) sortKey { return sortKey{t: e.Time, isTime: true, id: e.ID} }, true, false, p)
	if !ok {
		return []policy.AuditEvent{}, nil // a cursor that cannot be read starts nowhere
	}
	out := make([]policy.AuditEvent, 0, len(rows))
	for _, e := range rows {
		out = append(out, copyEvent(e))
	}
	return out, nil
}

func (t *tx) DeleteAuditEvents(entityID string) error {
	if err := t.writing(tAudit); err != nil {
		return err
	}
	for id, e := range t.st.audit {
		if e.EntityID == entityID {
			delete(t.st.audit, id)
		}
	}
	return nil
}
