package adapters

import (
	"bytes"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// The history of entities' policies (policy.HistoryStore), in history_rows
// and history_revisions (migration 00010). A write stores its revision row
// with its plan (the rows it stores and removes, policy.HistoryPlan), and
// the write of every historyBatch-th revision of the entity files the plans
// waiting (fileHistory), as does any read of the entity's rows first
// (filedTo): one read of the rows in force of the subjects they touched,
// those they removed closed by id, those they stored inserted with their
// spans. A write whose plan is not kept (a rebase, a large plan) files its
// net change itself, after those waiting (appendNow): the rows it adds in
// multi-row inserts, those it removes closed by id in one UPDATE (per 500;
// on PostgreSQL and MySQL both in one upsert, upsertHistory). Cost follows
// the writes, not the entity.

// historyRevisionRow is a row of history_revisions.
type historyRevisionRow struct {
	EntityID        string `gorm:"primaryKey"`
	Revision        int64  `gorm:"primaryKey"`
	CommittedAt     time.Time
	Actor           string
	AuditEventID    string `gorm:"column:audit_event_id"`
	AuditAction     string
	AuditObjectType string
	AuditObjectID   string `gorm:"column:audit_object_id"`
}

func (historyRevisionRow) TableName() string { return "history_revisions" }

func (r historyRevisionRow) entry() policy.HistoryEntry {
	e := policy.HistoryEntry{Revision: rolegate.Revision{EntityID: r.EntityID, Revision: r.Revision, At: utc(r.CommittedAt), Actor: r.Actor}}
	if r.AuditEventID != "" {
		e.Change = &rolegate.HistoryChange{AuditEventID: r.AuditEventID, Action: r.AuditAction, ObjectType: r.AuditObjectType, ObjectID: r.AuditObjectID}
	}
	return e
}

// insertRev begins the statement storing a row of history_revisions: its
// values, vals of AppendHistory, follow.
const insertRev = "INSERT INTO history_revisions (entity_id, revision, committed_at, actor, audit_event_id, audit_action, audit_object_type, audit_object_id) "

// insertRevKept is insertRev with the write's plan, left to be filed.
const insertRevKept = "INSERT INTO history_revisions (entity_id, revision, committed_at, actor, audit_event_id, audit_action, audit_object_type, audit_object_id, delta) "

// revisionCols are history_revisions' columns but the plans kept.
const revisionCols = "entity_id, revision, committed_at, actor, audit_event_id, audit_action, audit_object_type, audit_object_id"

// historyInChunk is how many values one IN list holds.
const historyInChunk = 500

// historyCols are the columns of a row's content, in HistoryRow's order.
const historyCols = "kind, subject, v1, v2, v3, v4, v5, data"

// placeholders returns n "?" joined by commas.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func chunked[T any](xs []T, n int, fn func([]T) error) error {
	for len(xs) > 0 {
		c := xs[:min(n, len(xs))]
		xs = xs[len(c):]
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// historyBatch is how many revisions of an entity a write may leave
// unfiled: their plans wait, encoded, in their revision rows
// (history_revisions.delta, migration 00015), and the write of every
// historyBatch-th revision files them with its own, in one batch
// (fileHistory), as does any read of the entity's rows first. A variable:
// tests file every write (1) or let plans wait.
var historyBatch int64 = 32

// historyKeepMax bounds the plan a write leaves unfiled: a larger one (an
// import, a role of thousands of rights) is filed by its write, after
// those waiting. A plan of more than historyKeepRows rows is not encoded
// to find out (HistoryPlan.Len).
const (
	historyKeepMax  = 64 << 10
	historyKeepRows = historyKeepMax / 10
)

func (t *tx) AppendHistory(rev rolegate.Revision, change *rolegate.HistoryChange, d engine.Delta) error {
	id := rev.EntityID
	plan, err := policy.NewHistoryPlan(id, d)
	if err != nil {
		return err
	}
	row := historyRevisionRow{EntityID: id, Revision: rev.Revision, CommittedAt: utc(rev.At), Actor: rev.Actor}
	if change != nil {
		row.AuditEventID, row.AuditAction, row.AuditObjectType, row.AuditObjectID = change.AuditEventID, change.Action, change.ObjectType, change.ObjectID
	}
	vals := []any{row.EntityID, row.Revision, row.CommittedAt, row.Actor, row.AuditEventID, row.AuditAction, row.AuditObjectType, row.AuditObjectID}
	if historyBatch > 1 && !plan.Rebase() && plan.Len() <= historyKeepRows {
		kept, err := plan.Encode()
		if err != nil {
			return err
		}
		if len(kept) <= historyKeepMax {
			// The revision row with its plan, when the history goes on
			// from the revision before (else: rebased below).
			from := ""
			if t.db.Dialector.Name() == "mysql" {
				from = " FROM DUAL"
			}
			res := t.db.Exec(insertRevKept+"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?"+from+" WHERE EXISTS (SELECT 1 FROM history_revisions WHERE entity_id = ? AND revision = ?)",
				append(append(vals, string(kept)), id, rev.Revision-1)...)
			if res.Error != nil {
				return translate(res.Error)
			}
			if res.RowsAffected == 1 {
				if rev.Revision%historyBatch == 0 {
					return t.fileHistory(id)
				}
				return nil
			}
		}
	}
	// Filed now: after the plans waiting.
	if err := t.fileHistory(id); err != nil {
		return err
	}
	return t.appendNow(id, rev.Revision, plan, vals)
}

// appendNow files the plan of the write of revision rev (vals its revision
// row) at once: none waits before it.
func (t *tx) appendNow(id string, revision int64, plan *policy.HistoryPlan, vals []any) error {
	// Whether the revision before is kept tells whether the history goes
	// on from it or is rebased. A write that reads rows in force learns it
	// in the same statement: on SQLite, which compiles every statement it
	// runs, it then stores its revision in a plain insert (an INSERT ...
	// SELECT ... WHERE EXISTS costs it half as much again as a plain one);
	// on PostgreSQL the read stores it too, when the history goes on (a
	// data-modifying WITH: one round trip for both). Otherwise the revision
	// is stored first, in the statement that tells.
	var err error
	chained, known, stored := false, false, false
	var open []policy.HistoryRow
	if !plan.Rebase() && !plan.AddsOnly() && !plan.Empty() && len(plan.Subjects()) <= historyInChunk {
		subs := plan.Subjects()
		switch t.db.Dialector.Name() {
		case "sqlite":
			rest, args := inForceOf("sqlite", id, subs, "")
			if open, chained, err = t.readOpenConcat(true, rest, append([]any{id, revision - 1}, args...)...); err != nil {
				return err
			}
			known = true
		case "postgres":
			if open, chained, err = t.readOpenStoring(vals, subs); err != nil {
				return err
			}
			known, stored = true, chained
		}
	}
	if !plan.Rebase() && !known {
		from := ""
		if t.db.Dialector.Name() == "mysql" {
			from = " FROM DUAL"
		}
		res := t.db.Exec(insertRev+"SELECT ?, ?, ?, ?, ?, ?, ?, ?"+from+" WHERE EXISTS (SELECT 1 FROM history_revisions WHERE entity_id = ? AND revision = ?)",
			append(vals, id, revision-1)...)
		if res.Error != nil {
			return translate(res.Error)
		}
		chained, stored = res.RowsAffected == 1, res.RowsAffected == 1
	}
	if !stored {
		if err := t.db.Exec(insertRev+"VALUES (?,?,?,?,?,?,?,?)", vals...).Error; err != nil {
			return translate(err)
		}
	}
	var add []policy.HistoryRow
	var closeIDs []int64
	switch {
	case !chained:
		// Rebased on the rows the entity holds: a Full delta, an entity
		// with no history yet (made before it was kept), or one a write
		// left out.
		pol, err := (&Store{dialect: t.db.Dialector.Name()}).loadPolicy(t, id)
		if rolegate.IsNotFound(err) { // deleted: its history goes with it
			return t.deleteHistory(id)
		}
		if err != nil {
			return err
		}
		want, err := policy.HistoryRowsOf(id, pol)
		if err != nil {
			return err
		}
		all, err := t.openHistory(id, nil)
		if err != nil {
			return err
		}
		add, closeIDs = policy.ResolveRebase(all, want)
		open = all
	case plan.AddsOnly():
		add, _ = plan.Resolve(nil)
	case !plan.Empty():
		if !known {
			if open, err = t.openHistory(id, plan.Subjects()); err != nil {
				return err
			}
		}
		add, closeIDs = plan.Resolve(open)
	}
	if len(closeIDs) > 0 && t.db.Dialector.Name() != "sqlite" {
		return t.upsertHistory(id, revision, rowsWithIDs(open, closeIDs), add)
	}
	closeAt := make(map[int64]int64, len(closeIDs))
	for _, c := range closeIDs {
		closeAt[c] = revision
	}
	if err := t.closeHistoryAt(closeAt); err != nil {
		return err
	}
	return t.insertHistory(id, revision, add)
}

// rowsWithIDs returns the rows of rows whose ids are in ids.
func rowsWithIDs(rows []policy.HistoryRow, ids []int64) []*policy.HistoryRow {
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make([]*policy.HistoryRow, 0, len(ids))
	for i := range rows {
		if want[rows[i].ID] {
			out = append(out, &rows[i])
		}
	}
	return out
}

// upsertHistory closes the rows in force in closing (as read, with their
// ids) and stores add, both from revision rev, in multi-row upserts: on
// PostgreSQL and MySQL, one round trip where a close and an insert took two
// (SQLite, which has no round trips, gains nothing by it and keeps the
// two). A row with its id meets the row in force of that id, whose valid_to
// the conflict sets; a row without one is stored. The rows to close were
// read in this transaction, under the lock its write holds on the entity:
// each is there. Were one not, it would be stored spanning [rev, rev), in
// force at no revision, rather than from any revision before.
func (t *tx) upsertHistory(entityID string, rev int64, closing []*policy.HistoryRow, add []policy.HistoryRow) error {
	type item struct {
		row   *policy.HistoryRow
		close bool
	}
	items := make([]item, 0, len(closing)+len(add))
	for _, r := range closing {
		items = append(items, item{r, true})
	}
	for i := range add {
		items = append(items, item{&add[i], false})
	}
	// PostgreSQL: an explicit NULL would not take the sequence's id.
	stored, upsert := "DEFAULT", " ON CONFLICT (id) DO UPDATE SET valid_to = excluded.valid_to WHERE history_rows.valid_to IS NULL"
	if t.db.Dialector.Name() == "mysql" {
		stored, upsert = "NULL", " ON DUPLICATE KEY UPDATE valid_to = IF(valid_to IS NULL, VALUES(valid_to), valid_to)"
	}
	const cols = 12
	return chunked(items, chunkRows(t.db, cols), func(items []item) error {
		var q strings.Builder
		q.WriteString("INSERT INTO history_rows (id, entity_id, " + historyCols + ", valid_from, valid_to) VALUES ")
		args := make([]any, 0, len(items)*cols)
		for i, it := range items {
			if i > 0 {
				q.WriteByte(',')
			}
			r := it.row
			if it.close {
				q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
				args = append(rowValues(append(args, r.ID), entityID, rev, r), rev)
			} else {
				q.WriteString("(" + stored + ",?,?,?,?,?,?,?,?,?,?,?)")
				args = append(rowValues(args, entityID, rev, r), nil)
			}
		}
		q.WriteString(upsert)
		return translate(t.db.Exec(q.String(), args...).Error)
	})
}

// rowValues appends to args the values of row r of the entity stored from
// revision rev: entity_id, the content columns (historyCols), valid_from.
func rowValues(args []any, entityID string, rev int64, r *policy.HistoryRow) []any {
	return append(args, entityID, r.Kind, r.Subject, r.Values[0], r.Values[1], r.Values[2], r.Values[3], r.Values[4], r.Data, rev)
}

// insertHistory stores rows in force from revision rev (setting their
// spans), in multi-row inserts (insertSpans).
func (t *tx) insertHistory(entityID string, rev int64, rows []policy.HistoryRow) error {
	for i := range rows {
		rows[i].From, rows[i].To = rev, 0
	}
	return t.insertSpans(entityID, rows)
}

// readHistory reads rows of history_rows: id, the content columns, valid_from
// and valid_to, from the rest of a query (FROM ... WHERE ...).
func (t *tx) readHistory(rest string, args ...any) ([]policy.HistoryRow, error) {
	var out []policy.HistoryRow
	err := streamRows(t.db, "SELECT id, "+historyCols+", valid_from, valid_to "+rest, func(c []sql.RawBytes) {
		var r policy.HistoryRow
		r.ID, _ = strconv.ParseInt(string(c[0]), 10, 64)
		r.Kind, r.Subject = string(c[1]), string(c[2])
		for i := range r.Values {
			r.Values[i] = string(c[3+i])
		}
		r.Data = string(c[8])
		r.From, _ = strconv.ParseInt(string(c[9]), 10, 64)
		if c[10] != nil {
			r.To, _ = strconv.ParseInt(string(c[10]), 10, 64)
		}
		out = append(out, r)
	}, args...)
	return out, err
}

// readHistoryJoined reads rows of history_rows as readHistory does, each as
// one column (drivers cost per column): the content columns (and the id when
// withID) joined by historySep, split here. Rows come without From and To
// (and without ID unless withID). A row that does not split is read again
// column by column.
func (t *tx) readHistoryJoined(withID bool, rest string, args ...any) ([]policy.HistoryRow, error) {
	cols := strings.Split(historyCols, ", ")
	if withID {
		cols = append([]string{"id"}, cols...)
	}
	joined := (&ruleReader{dialect: t.db.Dialector.Name()}).join(cols)
	var rows []policy.HistoryRow
	ok := true
	parts := make([]string, len(cols))
	err := streamRows(t.db, "SELECT "+joined+" "+rest, func(c []sql.RawBytes) {
		if !ok {
			return
		}
		b := c[0]
		for i := range parts {
			j := bytes.IndexByte(b, historySep)
			if (j < 0) != (i == len(parts)-1) {
				ok = false
				return
			}
			if j < 0 {
				j = len(b)
			}
			parts[i] = string(b[:j])
			if j < len(b) {
				b = b[j+1:]
			}
		}
		p := parts
		var r policy.HistoryRow
		if withID {
			r.ID, _ = strconv.ParseInt(p[0], 10, 64)
			p = p[1:]
		}
		r.Kind, r.Subject, r.Data = p[0], p[1], p[7]
		copy(r.Values[:], p[2:7])
		rows = append(rows, r)
	}, args...)
	if err != nil || ok {
		return rows, err
	}
	return t.readHistory(rest, args...)
}

// readHistoryConcat is readHistoryJoined without ids on SQLite, whose
// driver costs per row what its engine costs for a hundred: every row comes
// in one value, the rows joined by chunkSep (as the rules' chunks,
// ruleReader.eachJoined). A row that does not split is read again column by
// column.
func (t *tx) readHistoryConcat(rest string, args ...any) ([]policy.HistoryRow, error) {
	joined := (&ruleReader{dialect: "sqlite"}).join(strings.Split(historyCols, ", "))
	var rows []policy.HistoryRow
	ok := true
	err := streamRows(t.db, "SELECT count(*), group_concat(j, char(30)) FROM (SELECT "+joined+" AS j "+rest+")", func(c []sql.RawBytes) {
		n, err := strconv.Atoi(string(c[0]))
		if err != nil {
			ok = false
			return
		}
		rows = make([]policy.HistoryRow, 0, n)
		ok = splitConcat(string(c[1]), n, make([]string, 8), func(f []string) bool {
			// Each value its own copy: the rows become a policy that
			// outlives the read, which should not keep the whole read.
			r := policy.HistoryRow{Kind: strings.Clone(f[0]), Subject: strings.Clone(f[1]), Data: strings.Clone(f[7])}
			for k := range r.Values {
				r.Values[k] = strings.Clone(f[2+k])
			}
			rows = append(rows, r)
			return true
		})
	}, args...)
	if err != nil || ok {
		return rows, err
	}
	return t.readHistory(rest, args...)
}

// splitConcat splits what a SQLite reader read in one value: n rows joined
// by chunkSep, each of len(f) fields joined by historySep, calling row with
// each row's fields (substrings of s, in f). It reports false when s does
// not split so (a value held a separator: the caller reads again column by
// column) or row refuses a row.
func splitConcat(s string, n int, f []string, row func(f []string) bool) bool {
	for i := range n {
		r := s
		j := strings.IndexByte(s, chunkSep)
		if (j < 0) != (i == n-1) {
			return false
		}
		if j >= 0 {
			r, s = s[:j], s[j+1:]
		}
		for k := range f {
			e := strings.IndexByte(r, historySep)
			if (e < 0) != (k == len(f)-1) {
				return false
			}
			if e < 0 {
				f[k] = r
			} else {
				f[k], r = r[:e], r[e+1:]
			}
		}
		if !row(f) {
			return false
		}
	}
	return true
}

// inForceOf is the rest of a query (FROM ... WHERE ...) reading the
// entity's rows in force of the given subjects (of kind, when not ""), and
// its arguments. It reads each subject's rows in force by
// idx_history_rows_subject, bounded by entity, subject and valid_to
// (TestHistoryInForcePlan). On PostgreSQL each subject has its own branch
// of a UNION ALL: on a table whose size it knows but not its columns'
// statistics (a database restored or an index built, before the first
// ANALYZE), its planner bounds a scan for subject IN (...) by the entity
// alone and tests the subjects on every row in force of the entity.
func inForceOf(dialect, entityID string, subjects []string, kind string) (string, []any) {
	cond := " AND valid_to IS NULL"
	if kind != "" {
		cond = " AND kind = ?" + cond
	}
	if dialect != "postgres" {
		args := append([]any{entityID}, anys(subjects)...)
		if kind != "" {
			args = append(args, kind)
		}
		return "FROM history_rows WHERE entity_id = ? AND subject IN (" + placeholders(len(subjects)) + ")" + cond, args
	}
	var q strings.Builder
	args := make([]any, 0, 3*len(subjects))
	q.WriteString("FROM (")
	for i, sub := range subjects {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString("SELECT * FROM history_rows WHERE entity_id = ? AND subject = ?" + cond)
		args = append(args, entityID, sub)
		if kind != "" {
			args = append(args, kind)
		}
	}
	q.WriteString(") AS history_rows")
	return q.String(), args
}

// openHistory returns the entity's rows in force now: those of the given
// subjects (nil: all). On SQLite the rows of given subjects (a write's few)
// come in one value (readOpenConcat).
func (t *tx) openHistory(entityID string, subjects []string) ([]policy.HistoryRow, error) {
	if subjects == nil {
		return t.readHistoryJoined(true, "FROM history_rows WHERE entity_id = ? AND valid_to IS NULL", entityID)
	}
	sqlite := t.db.Dialector.Name() == "sqlite"
	var out []policy.HistoryRow
	err := chunked(subjects, historyInChunk, func(subs []string) error {
		rest, args := inForceOf(t.db.Dialector.Name(), entityID, subs, "")
		var rows []policy.HistoryRow
		var err error
		if sqlite {
			rows, _, err = t.readOpenConcat(false, rest, args...)
		} else {
			rows, err = t.readHistoryJoined(true, rest, args...)
		}
		out = append(out, rows...)
		return err
	})
	return out, err
}

// readOpenConcat is readHistoryJoined with ids on SQLite, for the rows a
// write reads (openHistory): its driver costs more per row and per string
// than its engine does for the whole search, so the rows come in one value
// (as readHistoryConcat's), made one string whose fields the rows share. With
// chain, the first two arguments are an entity and a revision, and chained
// tells whether the history keeps that revision. A row that does not split
// is read again column by column.
func (t *tx) readOpenConcat(chain bool, rest string, args ...any) (rows []policy.HistoryRow, chained bool, err error) {
	joined := (&ruleReader{dialect: "sqlite"}).join(append([]string{"id"}, strings.Split(historyCols, ", ")...))
	q := "SELECT count(*), group_concat(" + joined + ", char(30)) " + rest
	lead := 0
	if chain {
		q = "SELECT EXISTS (SELECT 1 FROM history_revisions WHERE entity_id = ? AND revision = ?), " + q[len("SELECT "):]
		lead = 1
	}
	ok := true
	err = streamRows(t.db, q, func(c []sql.RawBytes) {
		chained = chain && string(c[0]) == "1"
		n, err := strconv.Atoi(string(c[lead]))
		if err != nil {
			ok = false
			return
		}
		rows = make([]policy.HistoryRow, 0, n)
		ok = splitConcat(string(c[lead+1]), n, make([]string, 9), func(f []string) bool {
			r := policy.HistoryRow{Kind: f[1], Subject: f[2], Data: f[8]}
			var err error
			if r.ID, err = strconv.ParseInt(f[0], 10, 64); err != nil {
				return false
			}
			copy(r.Values[:], f[3:8])
			rows = append(rows, r)
			return true
		})
	}, args...)
	if err != nil || ok {
		return rows, chained, err
	}
	if chain {
		args = args[2:]
	}
	rows, err = t.readHistory(rest, args...)
	return rows, chained, err
}

// readOpenStoring reads, on PostgreSQL, the rows in force of the subjects
// of a write whose revision row is vals (AppendHistory), and tells whether
// the history keeps the revision before: then it has stored vals too, in
// the same statement (one round trip for both).
func (t *tx) readOpenStoring(vals []any, subjects []string) (rows []policy.HistoryRow, chained bool, err error) {
	q, args := openStoringQuery(vals, subjects)
	err = streamRows(t.db, q, func(c []sql.RawBytes) {
		chained = string(c[0]) == "1"
		if c[1] == nil { // the history holds none: the join's one row
			return
		}
		r := policy.HistoryRow{Kind: string(c[2]), Subject: string(c[3]), Data: string(c[9])}
		r.ID, _ = strconv.ParseInt(string(c[1]), 10, 64)
		for i := range r.Values {
			r.Values[i] = string(c[4+i])
		}
		rows = append(rows, r)
	}, args...)
	return rows, chained, err
}

// openStoringQuery is readOpenStoring's statement and its arguments.
func openStoringQuery(vals []any, subjects []string) (string, []any) {
	id, rev := vals[0], vals[1].(int64)
	rest, in := inForceOf("postgres", id.(string), subjects, "")
	q := "WITH prev AS (SELECT EXISTS (SELECT 1 FROM history_revisions WHERE entity_id = ? AND revision = ?) AS chained), " +
		"stored AS (" + insertRev + "SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM prev WHERE prev.chained) " +
		"SELECT CASE WHEN prev.chained THEN 1 ELSE 0 END, h.id, h.kind, h.subject, h.v1, h.v2, h.v3, h.v4, h.v5, h.data " +
		"FROM prev LEFT JOIN (SELECT id, kind, subject, v1, v2, v3, v4, v5, data " + rest + ") h ON true"
	return q, append(append([]any{id, rev - 1}, vals...), in...)
}

// deleteHistory removes the entity's history (DeleteEntity).
func (t *tx) deleteHistory(entityID string) error {
	if err := t.db.Exec("DELETE FROM history_rows WHERE entity_id = ?", entityID).Error; err != nil {
		return translate(err)
	}
	return translate(t.db.Exec("DELETE FROM history_revisions WHERE entity_id = ?", entityID).Error)
}

func (t *tx) HistoryRevisionAt(entityID string, at time.Time) (rolegate.Revision, error) {
	var rows []historyRevisionRow
	if err := t.db.Select(revisionCols).Where("entity_id = ? AND committed_at <= ?", entityID, utc(at)).
		Order("committed_at DESC, revision DESC").Limit(1).Find(&rows).Error; err != nil {
		return rolegate.Revision{}, translate(err)
	}
	if len(rows) == 0 {
		return rolegate.Revision{}, fmt.Errorf("history of entity %q at %s: %w", entityID, at.Format(time.RFC3339Nano), rolegate.ErrNotFound)
	}
	return rows[0].entry().Revision, nil
}

func (t *tx) HistoryRevisions(entityID string, revs []int64) (map[int64]policy.HistoryEntry, error) {
	out := make(map[int64]policy.HistoryEntry, len(revs))
	err := chunked(revs, historyInChunk, func(revs []int64) error {
		var rows []historyRevisionRow
		if err := t.db.Select(revisionCols).Where("entity_id = ? AND revision IN ?", entityID, revs).Find(&rows).Error; err != nil {
			return translate(err)
		}
		for _, r := range rows {
			out[r.Revision] = r.entry()
		}
		return nil
	})
	return out, err
}

func (t *tx) HistoryStart(entityID string) (rolegate.Revision, error) {
	var rows []historyRevisionRow
	if err := t.db.Select(revisionCols).Where("entity_id = ?", entityID).Order("revision").Limit(1).Find(&rows).Error; err != nil {
		return rolegate.Revision{}, translate(err)
	}
	if len(rows) == 0 {
		return rolegate.Revision{}, fmt.Errorf("history of entity %q: %w", entityID, rolegate.ErrNotFound)
	}
	return rows[0].entry().Revision, nil
}

// historySep joins a row's content columns in one (as ruleSep the rules'):
// no value holds it (rule values and names are printable, attributes and
// hashed names JSON, which escapes it); a row that would is read again
// column by column.
const historySep = 0x1f

func (t *tx) PolicyAt(entityID string, rev int64) (engine.Policy, error) {
	if err := t.filedTo(entityID, rev); err != nil {
		return engine.Policy{}, err
	}
	var kept []int64
	if err := t.db.Raw("SELECT revision FROM history_revisions WHERE entity_id = ? AND revision = ?", entityID, rev).Scan(&kept).Error; err != nil {
		return engine.Policy{}, translate(err)
	}
	if len(kept) == 0 {
		return engine.Policy{}, fmt.Errorf("revision %d of entity %q: %w", rev, entityID, rolegate.ErrNotFound)
	}
	var e entityRow
	if err := t.db.Select("created_at").Where("id = ?", entityID).Take(&e).Error; err != nil {
		return engine.Policy{}, translate(err)
	}
	where := "FROM history_rows WHERE entity_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
	var rows []policy.HistoryRow
	var err error
	if t.db.Dialector.Name() == "sqlite" {
		rows, err = t.readHistoryConcat(where, entityID, rev, rev)
	} else {
		rows, err = t.readHistoryJoined(false, where, entityID, rev, rev)
	}
	if err != nil {
		return engine.Policy{}, err
	}
	conds, err := t.EntityConditions(entityID)
	if err != nil {
		return engine.Policy{}, err
	}
	pol, err := policy.HistoryPolicy(entityID, rev, utc(e.CreatedAt), rows, conds)
	if err != nil {
		return pol, err
	}
	return pol, t.nameUnnamed(entityID, &pol)
}

// nameUnnamed names the hashed subjects of pol's rules that the history
// does not (those of rows migration 00010 copied, which SQL could not
// hash) from the entity's users and assignments, as LoadPolicy does: a
// hashed subject always names the same user and scope.
func (t *tx) nameUnnamed(entityID string, pol *engine.Policy) error {
	missing := false
	for _, r := range pol.Rules {
		if len(r.Values) > 0 && engine.Hashed(r.Values[0]) {
			if _, ok := pol.Hashed[r.Values[0]]; !ok {
				missing = true
				break
			}
		}
	}
	if !missing {
		return nil
	}
	named := engine.Policy{Rules: pol.Rules}
	if err := (&Store{dialect: t.db.Dialector.Name()}).nameHashed(t.db, entityID, &named); err != nil {
		return err
	}
	for _, r := range pol.Rules {
		if n, ok := named.Hashed[r.Values[0]]; ok {
			if pol.Hashed == nil {
				pol.Hashed = map[string]engine.HashedName{}
			}
			if _, had := pol.Hashed[r.Values[0]]; !had {
				pol.Hashed[r.Values[0]] = n
			}
		}
	}
	return nil
}

// spans returns the entity's rows of the given kinds and subjects whose span
// meets [from, to] (to 0: up to now), ordered by valid_from then id.
func (t *tx) spans(entityID string, kinds []string, subjects []string, from, to int64) ([]policy.HistoryRow, error) {
	// A span's end may be a revision after to: every plan is filed first.
	if err := t.filedTo(entityID, 0); err != nil {
		return nil, err
	}
	var out []policy.HistoryRow
	err := chunked(subjects, historyInChunk, func(subs []string) error {
		q := "FROM history_rows WHERE entity_id = ? AND subject IN (" + placeholders(len(subs)) + ") AND kind IN (" +
			placeholders(len(kinds)) + ") AND (valid_to IS NULL OR valid_to > ?)"
		args := append(append(append([]any{entityID}, anys(subs)...), anys(kinds)...), from)
		if to > 0 {
			// SQLite, without statistics, would read the whole entity's
			// rows by idx_history_rows_from for this bound rather than the
			// subjects' by idx_history_rows_subject: the unary plus keeps
			// the bound off any index.
			if t.db.Dialector.Name() == "sqlite" {
				q += " AND +valid_from <= ?"
			} else {
				q += " AND valid_from <= ?"
			}
			args = append(args, to)
		}
		rows, err := t.readHistory(q, args...)
		out = append(out, rows...)
		return err
	})
	slices.SortFunc(out, func(a, b policy.HistoryRow) int {
		if a.From != b.From {
			return int(a.From - b.From)
		}
		return int(a.ID - b.ID)
	})
	return out, err
}

func (t *tx) RuleHistory(entityID string, subjects []string, from, to int64) ([]policy.HistoryRule, error) {
	rows, err := t.spans(entityID, []string{policy.HistoryP, policy.HistoryG}, subjects, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]policy.HistoryRule, 0, len(rows))
	for _, r := range rows {
		out = append(out, policy.HistoryRule{Rule: r.Rule(entityID), From: r.From, To: r.To})
	}
	return out, nil
}

func (t *tx) RoleHistory(entityID string, roleIDs []string, from, to int64) ([]policy.HistoryRole, error) {
	rows, err := t.spans(entityID, []string{policy.HistoryRoleName}, roleIDs, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]policy.HistoryRole, 0, len(rows))
	for _, r := range rows {
		out = append(out, policy.HistoryRole{RoleID: r.Subject, Name: r.Data, Active: r.Values[0] == "1", From: r.From, To: r.To})
	}
	return out, nil
}

func (t *tx) SweepHistory(before time.Time, limit int) (map[string]int, error) {
	out := map[string]int{}
	// Per entity, the revision in force at before (cut) and the first
	// kept: those with one before cut have history to remove.
	type due struct {
		EntityID string
		Cut      int64
		First    int64
	}
	var dues []due
	if err := t.db.Raw("SELECT entity_id, MAX(revision) AS cut, MIN(revision) AS first FROM history_revisions WHERE committed_at <= ? "+
		"GROUP BY entity_id HAVING MIN(revision) < MAX(revision) ORDER BY entity_id", utc(before)).Scan(&dues).Error; err != nil {
		return nil, translate(err)
	}
	for _, d := range dues {
		if limit <= 0 {
			break
		}
		// A revision whose plan waits is kept, with those after it: the
		// rows its filing closes are then closed from it.
		waiting, err := t.unfiled(d.EntityID)
		if err != nil {
			return nil, err
		}
		if len(waiting) > 0 && waiting[0].Revision < d.Cut {
			d.Cut = waiting[0].Revision
		}
		// The rows closed at or before cut are in force at no revision
		// kept; then the revisions before cut.
		var ids []int64
		if err := t.db.Raw("SELECT id FROM history_rows WHERE entity_id = ? AND valid_to <= ? LIMIT ?", d.EntityID, d.Cut, limit).
			Scan(&ids).Error; err != nil {
			return nil, translate(err)
		}
		if err := chunked(ids, historyInChunk, func(ids []int64) error {
			return t.db.Exec("DELETE FROM history_rows WHERE id IN ("+placeholders(len(ids))+")", anys(ids)...).Error
		}); err != nil {
			return nil, translate(err)
		}
		n := len(ids)
		if n < limit {
			var revs []int64
			if err := t.db.Raw("SELECT revision FROM history_revisions WHERE entity_id = ? AND revision < ? ORDER BY revision LIMIT ?",
				d.EntityID, d.Cut, limit-n).Scan(&revs).Error; err != nil {
				return nil, translate(err)
			}
			if len(revs) > 0 {
				if err := t.db.Exec("DELETE FROM history_revisions WHERE entity_id = ? AND revision <= ?", d.EntityID, revs[len(revs)-1]).Error; err != nil {
					return nil, translate(err)
				}
			}
			n += len(revs)
		}
		if n > 0 {
			out[d.EntityID] = n
		}
		limit -= n
	}
	return out, nil
}

// HistoryChanges reads the rows stored by a revision in (lo, hi], then those
// stored before and removed by one (an index on valid_from, migration 00012,
// and one on valid_to), each read stopping past the limit; then the names
// of the hashed subjects they hold.
func (t *tx) HistoryChanges(entityID string, lo, hi int64, limit int) ([]policy.HistoryRow, bool, error) {
	if err := t.filedTo(entityID, hi); err != nil {
		return nil, false, err
	}
	var out []policy.HistoryRow
	for _, q := range []struct {
		where string
		args  []any
	}{
		{"entity_id = ? AND valid_from > ? AND valid_from <= ?", []any{entityID, lo, hi}},
		{"entity_id = ? AND valid_to > ? AND valid_to <= ? AND valid_from <= ?", []any{entityID, lo, hi, lo}},
	} {
		rest := "FROM history_rows WHERE " + q.where
		if limit > 0 {
			rest += " LIMIT " + strconv.Itoa(limit-len(out)+1)
		}
		rows, err := t.readHistorySpans(rest, q.args...)
		if err != nil {
			return nil, false, err
		}
		if out = append(out, rows...); limit > 0 && len(out) > limit {
			return nil, false, nil
		}
	}
	seen := map[string]bool{}
	var hashed []string
	for _, r := range out {
		if engine.Hashed(r.Subject) && !seen[r.Subject] {
			seen[r.Subject] = true
			hashed = append(hashed, r.Subject)
		}
	}
	have := make(map[int64]bool, len(out))
	for _, r := range out {
		have[r.ID] = true
	}
	err := chunked(hashed, historyInChunk, func(subs []string) error {
		rest, args := inForceOf(t.db.Dialector.Name(), entityID, subs, policy.HistoryHashed)
		rows, err := t.readHistory(rest, args...)
		for _, r := range rows {
			if !have[r.ID] {
				out = append(out, r)
			}
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// readHistorySpans is readHistory, on SQLite as readHistoryConcat (every
// row in one value), with the rows' ids and spans. A row that does not
// split is read again column by column.
func (t *tx) readHistorySpans(rest string, args ...any) ([]policy.HistoryRow, error) {
	if t.db.Dialector.Name() != "sqlite" {
		return t.readHistory(rest, args...)
	}
	cols := append(append([]string{"id"}, strings.Split(historyCols, ", ")...), "valid_from", "ifnull(valid_to, 0)")
	joined := (&ruleReader{dialect: "sqlite"}).join(cols)
	var rows []policy.HistoryRow
	ok := true
	err := streamRows(t.db, "SELECT count(*), group_concat(j, char(30)) FROM (SELECT "+joined+" AS j "+rest+")", func(c []sql.RawBytes) {
		n, err := strconv.Atoi(string(c[0]))
		if err != nil {
			ok = false
			return
		}
		if n == 0 {
			return
		}
		rows = make([]policy.HistoryRow, 0, n)
		ok = splitConcat(string(c[1]), n, make([]string, 11), func(f []string) bool {
			// Copies: the rows' rules end in a past snapshot.
			r := policy.HistoryRow{Kind: strings.Clone(f[1]), Subject: strings.Clone(f[2]), Data: strings.Clone(f[8])}
			for k := range r.Values {
				r.Values[k] = strings.Clone(f[3+k])
			}
			var e1, e2, e3 error
			r.ID, e1 = strconv.ParseInt(f[0], 10, 64)
			r.From, e2 = strconv.ParseInt(f[9], 10, 64)
			r.To, e3 = strconv.ParseInt(f[10], 10, 64)
			if e1 != nil || e2 != nil || e3 != nil {
				return false
			}
			rows = append(rows, r)
			return true
		})
	}, args...)
	if err != nil || ok {
		return rows, err
	}
	return t.readHistory(rest, args...)
}

// keptPlan is a revision whose plan waits to be filed.
type keptPlan struct {
	Revision int64
	Delta    string
}

// unfiled returns the entity's revisions whose plans wait to be filed, in
// order: those after its last filed revision (plans wait only after every
// revision filed), read from the newest back.
func (t *tx) unfiled(entityID string) ([]keptPlan, error) {
	var out []keptPlan
	page := int(min(max(historyBatch, 1), 255)) + 1
	below := int64(math.MaxInt64)
	for {
		var rows []struct {
			Revision int64
			Delta    *string
		}
		if err := t.db.Raw("SELECT revision, delta FROM history_revisions WHERE entity_id = ? AND revision < ? ORDER BY revision DESC LIMIT ?",
			entityID, below, page).Scan(&rows).Error; err != nil {
			return nil, translate(err)
		}
		done := len(rows) < page
		for _, r := range rows {
			if r.Delta == nil {
				done = true
				break
			}
			out = append(out, keptPlan{r.Revision, *r.Delta})
			below = r.Revision
		}
		if done {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// fileHistory files the plans of the entity's revisions that wait, in
// one batch: resolved in turn in memory (policy.FileHistoryPlans) over one
// read of the rows in force of the subjects they touch, then the rows they
// removed closed and those they stored inserted, each with its span, and
// the plans cleared. The entity must be held by the transaction (its
// write, or lockHistory) before the transaction's first read.
func (t *tx) fileHistory(entityID string) error {
	waiting, err := t.unfiled(entityID)
	if err != nil || len(waiting) == 0 {
		return err
	}
	revs := make([]int64, len(waiting))
	plans := make([]*policy.HistoryPlan, len(waiting))
	subjects := map[string]bool{}
	for i, w := range waiting {
		p, err := policy.DecodeHistoryPlan(entityID, []byte(w.Delta))
		if err != nil {
			return fmt.Errorf("history of entity %q, revision %d: %w", entityID, w.Revision, err)
		}
		revs[i], plans[i] = w.Revision, p
		for _, sub := range p.Subjects() {
			subjects[sub] = true
		}
	}
	var open []policy.HistoryRow
	if len(subjects) > 0 {
		subs := make([]string, 0, len(subjects))
		for sub := range subjects {
			subs = append(subs, sub)
		}
		slices.Sort(subs)
		if open, err = t.openHistory(entityID, subs); err != nil {
			return err
		}
	}
	closeAt, store := policy.FileHistoryPlans(open, revs, plans)
	if err := t.closeHistoryAt(closeAt); err != nil {
		return err
	}
	if err := t.insertSpans(entityID, store); err != nil {
		return err
	}
	return translate(t.db.Exec("UPDATE history_revisions SET delta = NULL WHERE entity_id = ? AND revision >= ? AND revision <= ?",
		entityID, revs[0], revs[len(revs)-1]).Error)
}

// closeHistoryAt closes rows in force, each from its revision (id ->
// revision), in UPDATEs of up to 300 rows.
func (t *tx) closeHistoryAt(closeAt map[int64]int64) error {
	ids := make([]int64, 0, len(closeAt))
	for id := range closeAt {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return chunked(ids, 300, func(ids []int64) error {
		var q strings.Builder
		args := make([]any, 0, 2*len(ids))
		q.WriteString("UPDATE history_rows SET valid_to = CASE id")
		for _, id := range ids {
			// The revision as a number written here: PostgreSQL types an
			// untyped parameter of CASE as text.
			q.WriteString(" WHEN ? THEN " + strconv.FormatInt(closeAt[id], 10))
			args = append(args, id)
		}
		q.WriteString(" END WHERE id IN (" + placeholders(len(ids)) + ") AND valid_to IS NULL")
		return translate(t.db.Exec(q.String(), append(args, anys(ids)...)...).Error)
	})
}

// insertSpans stores rows with their spans (To 0: in force), in multi-row
// inserts, in order.
func (t *tx) insertSpans(entityID string, rows []policy.HistoryRow) error {
	const cols = 11
	return chunked(rows, chunkRows(t.db, cols), func(rows []policy.HistoryRow) error {
		var q strings.Builder
		q.WriteString("INSERT INTO history_rows (entity_id, " + historyCols + ", valid_from, valid_to) VALUES ")
		args := make([]any, 0, len(rows)*cols)
		for i := range rows {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
			var to any
			if rows[i].To > 0 {
				to = rows[i].To
			}
			args = append(rowValues(args, entityID, rows[i].From, &rows[i]), to)
		}
		return translate(t.db.Exec(q.String(), args...).Error)
	})
}

// lockHistory holds the entity for the rest of the transaction, as its
// writes do, before a read that files its history: on PostgreSQL and MySQL
// a lock on its row, taken before any other read (MySQL's snapshot then
// begins after it); SQLite's write transaction holds the database.
func (t *tx) lockHistory(entityID string) error {
	if t.db.Dialector.Name() == "sqlite" {
		return nil
	}
	var ids []string
	return translate(t.db.Raw("SELECT id FROM entities WHERE id = ? FOR UPDATE", entityID).Scan(&ids).Error)
}

// errUnfiled tells that a read of an entity's history, in a read-only
// transaction, met plans waiting to be filed: the store runs the read again
// in a write transaction, which files them first (Store.run).
type errUnfiled struct{ entityID string }

func (e *errUnfiled) Error() string {
	return fmt.Sprintf("history of entity %q: revisions wait to be filed", e.entityID)
}

// filedTo makes sure the plans of the entity's revisions up to rev (0:
// every one) are filed, before a read of its rows: in a write transaction
// it files them; in a read-only one it returns errUnfiled. Plans wait only
// after every filed revision: rev's row tells.
func (t *tx) filedTo(entityID string, rev int64) error {
	q, args := "SELECT CASE WHEN delta IS NULL THEN 0 ELSE 1 END FROM history_revisions WHERE entity_id = ?", []any{entityID}
	if rev > 0 {
		q, args = q+" AND revision = ?", append(args, rev)
	} else {
		q += " ORDER BY revision DESC LIMIT 1"
	}
	var waits []int
	if err := t.db.Raw(q, args...).Scan(&waits).Error; err != nil {
		return translate(err)
	}
	if len(waits) == 0 || waits[0] == 0 {
		return nil
	}
	if !t.write {
		return &errUnfiled{entityID}
	}
	if err := t.lockHistory(entityID); err != nil {
		return err
	}
	return t.fileHistory(entityID)
}
