package adapters

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// TestMigrationsUpgrade: a database made by an older release (its schema as
// that release made it, frozen in testdata/release-N, with its
// schema_migrations rows and a few rows of data) is taken over and migrated
// to exactly the schema of a fresh database (tables, columns with their
// types, nullability and defaults, indexes with their columns and
// uniqueness, MySQL's table options); the rows survive, and the data steps of
// the migrations it lacked ran. The only table a fresh database lacks is the
// old migrator's schema_migrations, kept as it was. Column order is not
// compared: the old migrator added columns at the end on upgrades, so
// databases of the same release already differ in it.
func TestMigrationsUpgrade(t *testing.T) {
	for _, release := range []int{3, 8} {
		t.Run(fmt.Sprintf("release-%d", release), func(t *testing.T) {
			onEveryDatabaseURL(t, "upgrade test", func(t *testing.T, newURL func(t *testing.T) string) {
				fresh := openOrFail(t, newURL(t))
				old := connectOrFail(t, newURL(t))
				execFile(t, old, filepath.Join("testdata", fmt.Sprintf("release-%d", release), old.dialect+".sql"))
				oldTables := introspect(t, old)
				now := ms(time.Now())
				putOldRows(t, old, now)
				if err := old.Migrate(ctx); err != nil {
					t.Fatalf("migrate release %d: %v", release, err)
				}
				got, want := introspect(t, old), introspect(t, fresh)
				if _, ok := got["schema_migrations"]; !ok {
					t.Error("schema_migrations was dropped")
				}
				if !reflect.DeepEqual(oldTables["schema_migrations"], got["schema_migrations"]) {
					t.Errorf("schema_migrations changed:\n%v\n%v", oldTables["schema_migrations"], got["schema_migrations"])
				}
				delete(got, "schema_migrations")
				compareSchemas(t, got, want)
				var n int
				if err := old.w.Raw("SELECT COUNT(*) FROM schema_migrations").Scan(&n).Error; err != nil || n != release {
					t.Errorf("schema_migrations holds %d rows (%v), want %d", n, err, release)
				}
				if v, err := old.SchemaVersion(ctx); err != nil || v != knownVersion(t, old) {
					t.Errorf("schema version %d (%v), want %d", v, err, knownVersion(t, old))
				}
				checkOldRows(t, old, now, release)
			})
		})
	}
}

// TestMigrateIsIdempotent: a second Migrate applies nothing and changes no
// table.
func TestMigrateIsIdempotent(t *testing.T) {
	onEveryDatabase(t, "migrate twice", func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		before := introspect(t, s)
		var rows int
		if err := s.w.Raw("SELECT COUNT(*) FROM goose_db_version").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		compareSchemas(t, introspect(t, s), before)
		var again int
		if err := s.w.Raw("SELECT COUNT(*) FROM goose_db_version").Scan(&again).Error; err != nil || again != rows {
			t.Fatalf("goose_db_version holds %d rows after a second Migrate (%v), %d before", again, err, rows)
		}
		if rows != knownVersion(t, s)+1 { // and goose's version 0
			t.Fatalf("goose_db_version holds %d rows, want %d", rows, knownVersion(t, s)+1)
		}
	})
}

// TestMigrateRefusesNewerSchema: a database a newer release migrated past
// what this build knows is refused (goose alone would carry on), and Open
// fails with it.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	onEveryDatabaseURL(t, "newer schema test", func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		s := openOrFail(t, url)
		next := knownVersion(t, s) + 1
		if err := s.w.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)", next, true).Error; err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("the database schema is at version %d, newer than this build of rolegate knows (%d)", next, next-1)
		if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Migrate: %v, want %q", err, want)
		}
		if s2, err := Open(ctx, url); err == nil {
			s2.Close()
			t.Fatal("Open accepted a database newer than this build")
		} else if !strings.Contains(err.Error(), want) {
			t.Fatalf("Open: %v, want %q", err, want)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != next {
			t.Fatalf("schema version %d (%v), want %d", v, err, next)
		}
	})
}

// TestMigrationsInOrder: every dialect has the same versions, numbered from 1
// without a gap; and the row structs, which no longer make the tables, match
// the tables the SQL made (every field has its column).
func TestMigrationsInOrder(t *testing.T) {
	var versions [][]int64
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		files, err := os.ReadDir(filepath.Join("migrations", d))
		if err != nil {
			t.Fatal(err)
		}
		var vs []int64
		for i, f := range files {
			var v int64
			if _, err := fmt.Sscanf(f.Name(), "%05d_", &v); err != nil || v != int64(i+1) {
				t.Fatalf("%s/%s: want version %d first (%v)", d, f.Name(), i+1, err)
			}
			vs = append(vs, v)
		}
		versions = append(versions, vs)
	}
	if !reflect.DeepEqual(versions[0], versions[1]) || !reflect.DeepEqual(versions[0], versions[2]) {
		t.Fatalf("dialects have different versions: %v", versions)
	}
	onEveryDatabase(t, "row structs", func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		for _, row := range []any{&entityRow{}, &roleRow{}, &userRow{}, &assignmentRow{}, &settingRow{}, &auditRow{}, &clientRow{}, &policyChangeRow{}, &conditionRow{}, &constraintRow{}} {
			stmt := s.w.Model(row).Statement
			if err := stmt.Parse(row); err != nil {
				t.Fatal(err)
			}
			for _, f := range stmt.Schema.Fields {
				if f.DBName != "" && !s.w.Migrator().HasColumn(row, f.DBName) {
					t.Errorf("%s.%s: no such column", stmt.Schema.Table, f.DBName)
				}
			}
		}
	})
}

// knownVersion is the highest migration this build has.
func knownVersion(t *testing.T, s *Store) int {
	t.Helper()
	p, err := s.migrator()
	if err != nil {
		t.Fatal(err)
	}
	src := p.ListSources()
	return int(src[len(src)-1].Version)
}

// migrationStatement returns the statement of a migration of the store's
// dialect that starts with prefix.
func migrationStatement(t *testing.T, s *Store, file, prefix string) string {
	t.Helper()
	b, err := migrationFiles.ReadFile("migrations/" + s.dialect + "/" + file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+prefix)
	if !ok {
		t.Fatalf("%s has no statement %q", file, prefix)
	}
	stmt, _, _ := strings.Cut(prefix+rest, ";")
	return stmt
}

// execFile runs the statements of a SQL file (one statement ends a line with
// a semicolon; lines starting with -- are comments).
func execFile(t *testing.T, s *Store, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stmt strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "--") {
			continue
		}
		stmt.WriteString(line + "\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if _, err := s.closers[0].ExecContext(ctx, stmt.String()); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, stmt.String())
			}
			stmt.Reset()
		}
	}
	if strings.TrimSpace(stmt.String()) != "" {
		t.Fatalf("%s ends without a semicolon: %s", path, stmt.String())
	}
}

// putOldRows writes an entity with a role, a user, an assignment, two rules
// and a client, and a client of an entity gone, in the columns every release
// since 3 has.
func putOldRows(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	exec := func(q string, args ...any) {
		if err := s.w.Exec(q, args...).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	perms := `{"objects":[{"object_type":"entity","actions":[{"action_name":"read","permission":"allowed"}]}]}`
	exec("INSERT INTO entities (id, name, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", "acme", "Acme", 4, now, now)
	exec("INSERT INTO roles (id, entity_id, name, name_key, description, permissions, is_default, role_type, scope, status, version, "+
		"created_at, created_by, updated_at, updated_by, deleted_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		"r1", "acme", "Reader", "Reader", "reads", perms, false, rolegate.RoleCustom, rolegate.ScopeAccount, rolegate.StatusActive, 1,
		now, "alice", now, "alice", "")
	exec("INSERT INTO users (entity_id, id, email, name, permissions, created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		"acme", "u1", "u1@example.com", "U One", "", now, "alice", now)
	exec("INSERT INTO assignments (entity_id, user_id, role_id, scope, created_at) VALUES (?, ?, ?, ?, ?)", "acme", "u1", "r1", "", now)
	exec("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES (?, ?, ?, ?, ?, ?, ?)", "p", "r1", "acme", "entity", "read", "", "")
	exec("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES (?, ?, ?, ?, ?, ?, ?)", "g", "u1", "r1", "acme", "", "", "")
	for _, c := range [][2]string{{"c-acme", "acme"}, {"c-gone", "gone"}, {"c-platform", ""}} {
		exec("INSERT INTO clients (id, name, entity_id, scopes, secret_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
			c[0], c[0], c[1], "check", "x", now, "alice")
	}
}

// checkOldRows reads back what putOldRows wrote through the store, and what
// the data steps of migrations 4 and 6 made of it when the release lacked them.
func checkOldRows(t *testing.T, s *Store, now time.Time, release int) {
	t.Helper()
	mustUpdate(t, s, func(tx policy.Tx) error {
		e, err := tx.GetEntity("acme")
		if err != nil || e.Name != "Acme" || e.Revision != 4 || !e.CreatedAt.Equal(now) {
			t.Errorf("entity: %+v %v", e, err)
		}
		r, err := tx.GetRole("acme", "r1")
		if err != nil || r.Name != "Reader" || r.Status != rolegate.StatusActive || len(r.Permissions.Objects) != 1 || !r.CreatedAt.Equal(now) {
			t.Errorf("role: %+v %v", r, err)
		}
		u, err := tx.GetUser("acme", "u1")
		if err != nil || u.Email != "u1@example.com" {
			t.Errorf("user: %+v %v", u, err)
		}
		as, err := tx.ListAssignments("acme", policy.AssignmentFilter{})
		if err != nil || len(as) != 1 || as[0].RoleID != "r1" || as[0].ExpiresAt != nil {
			t.Errorf("assignments: %+v %v", as, err)
		}
		c, err := tx.GetClient("c-acme")
		if err != nil {
			t.Errorf("client: %v", err)
		}
		if release < 6 {
			// Migration 6 gave the entity an incarnation, and its client too,
			// and deleted the client of an entity gone.
			if len(e.Incarnation) != 36 || c.EntityIncarnation != e.Incarnation {
				t.Errorf("incarnations: entity %q, client %q", e.Incarnation, c.EntityIncarnation)
			}
			if _, err := tx.GetClient("c-gone"); err == nil {
				t.Error("the client of an entity gone survived migration 6")
			}
		}
		if p, err := tx.GetClient("c-platform"); err != nil || p.EntityIncarnation != "" {
			t.Errorf("platform client: %+v %v", p, err)
		}
		return nil
	})
	pol, err := s.LoadPolicy(ctx, "acme")
	if err != nil || len(pol.Rules) != 2 {
		t.Fatalf("rules: %+v %v", pol, err)
	}
	// Migration 10 began the entity's history at its revision then.
	s.View(ctx, func(tx policy.Tx) error {
		start, err := tx.HistoryStart("acme")
		if err != nil || start.Revision != 4 || !start.At.Equal(now) {
			t.Errorf("history start: %+v %v", start, err)
		}
		at, err := tx.PolicyAt("acme", 4)
		if err != nil || !reflect.DeepEqual(policyLines(at), policyLines(pol)) || !reflect.DeepEqual(at.RoleNames, pol.RoleNames) {
			t.Errorf("the history at revision 4: %+v %v, LoadPolicy: %+v", at, err, pol)
		}
		return nil
	})
	if release < 4 {
		// Migration 4 counted what the entity holds.
		if got, want := counts(t, s, "acme"), (policy.EntityCounts{Roles: 1, Users: 1, Rules: 2}); got != want {
			t.Errorf("counters %+v, want %+v", got, want)
		}
	}
}

// introspect describes every table of the store's database: per table, its
// options, columns and indexes, one sorted line each.
func introspect(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(table, format string, args ...any) { out[table] = append(out[table], fmt.Sprintf(format, args...)) }
	query := func(q string, each func(scan func(...any) error), args ...any) {
		rows, err := s.closers[0].QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			each(func(dst ...any) error {
				if err := rows.Scan(dst...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return nil
			})
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	type null = *string
	str := func(p null) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	switch s.dialect {
	case "sqlite":
		var tables []string
		query("SELECT name FROM sqlite_master WHERE type = 'table'", func(scan func(...any) error) {
			var n string
			scan(&n)
			tables = append(tables, n)
		})
		for _, tb := range tables {
			out[tb] = []string{}
			query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)", func(scan func(...any) error) {
				var name, typ string
				var notNull, pk int
				var dflt null
				scan(&name, &typ, &notNull, &dflt, &pk)
				add(tb, "column %s %s notnull=%d default=%s pk=%d", name, typ, notNull, str(dflt), pk)
			}, tb)
			var indexes [][3]string
			query("SELECT name, \"unique\", origin FROM pragma_index_list(?)", func(scan func(...any) error) {
				var name, unique, origin string
				scan(&name, &unique, &origin)
				indexes = append(indexes, [3]string{name, unique, origin})
			}, tb)
			for _, ix := range indexes {
				var cols []string
				query("SELECT name FROM pragma_index_info(?) ORDER BY seqno", func(scan func(...any) error) {
					var c string
					scan(&c)
					cols = append(cols, c)
				}, ix[0])
				add(tb, "index %s unique=%s origin=%s (%s)", ix[0], ix[1], ix[2], strings.Join(cols, ", "))
			}
		}
	case "postgres":
		query(`SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
			FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`, func(scan func(...any) error) {
			var tb, name, typ string
			var notNull bool
			var dflt null
			scan(&tb, &name, &typ, &notNull, &dflt)
			add(tb, "column %s %s notnull=%t default=%s", name, typ, notNull, str(dflt))
		})
		query(`SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes WHERE schemaname = current_schema()`,
			func(scan func(...any) error) {
				var tb, name, def string
				scan(&tb, &name, &def)
				add(tb, "index %s %s", name, def)
			})
		query(`SELECT sequencename, data_type::text, increment_by FROM pg_sequences WHERE schemaname = current_schema()`,
			func(scan func(...any) error) {
				var name, typ string
				var inc int64
				scan(&name, &typ, &inc)
				add("(sequences)", "sequence %s %s by %d", name, typ, inc)
			})
	case "mysql":
		query(`SELECT table_name, engine, table_collation FROM information_schema.tables WHERE table_schema = database()`,
			func(scan func(...any) error) {
				var tb, engine, coll string
				scan(&tb, &engine, &coll)
				add(tb, "table engine=%s collation=%s", engine, coll)
			})
		query(`SELECT table_name, column_name, column_type, is_nullable, column_default, extra, character_set_name, collation_name
			FROM information_schema.columns WHERE table_schema = database()`, func(scan func(...any) error) {
			var tb, name, typ, nullable, extra string
			var dflt, cs, coll null
			scan(&tb, &name, &typ, &nullable, &dflt, &extra, &cs, &coll)
			add(tb, "column %s %s nullable=%s default=%s extra=%s charset=%s collation=%s", name, typ, nullable, str(dflt), extra, str(cs), str(coll))
		})
		query(`SELECT table_name, index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ', ')
			FROM information_schema.statistics WHERE table_schema = database() GROUP BY table_name, index_name, non_unique`,
			func(scan func(...any) error) {
				var tb, name, cols string
				var nonUnique int
				scan(&tb, &name, &nonUnique, &cols)
				add(tb, "index %s non_unique=%d (%s)", name, nonUnique, cols)
			})
	}
	for _, lines := range out {
		slices.Sort(lines)
	}
	return out
}

// compareSchemas reports every table and line that differs.
func compareSchemas(t *testing.T, got, want map[string][]string) {
	t.Helper()
	names := map[string]bool{}
	for n := range got {
		names[n] = true
	}
	for n := range want {
		names[n] = true
	}
	for n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			t.Errorf("table %s missing", n)
		case !wok:
			t.Errorf("table %s not in a fresh database", n)
		case !reflect.DeepEqual(g, w):
			t.Errorf("table %s:\n got  %s\n want %s", n, strings.Join(g, "\n      "), strings.Join(w, "\n      "))
		}
	}
}

// TestMigrateTakesTurns: instances opening one database at once, fresh or of
// the previous release, all start, and the migrations are recorded once each.
func TestMigrateTakesTurns(t *testing.T) {
	for _, release := range []int{0, 8} {
		t.Run(fmt.Sprintf("release-%d", release), func(t *testing.T) {
			onEveryDatabaseURL(t, "concurrent migrations test", func(t *testing.T, newURL func(t *testing.T) string) {
				url := newURL(t)
				// (SQLite: the file made, in WAL mode, beforehand: instances
				// making a new file at once may find it locked, migrations apart.)
				old := connectOrFail(t, url)
				if release > 0 {
					execFile(t, old, filepath.Join("testdata", fmt.Sprintf("release-%d", release), old.dialect+".sql"))
				}
				const instances = 4
				errs := make(chan error, instances)
				for range instances {
					go func() {
						s, err := Open(ctx, url)
						if err == nil {
							s.Close()
						}
						errs <- err
					}()
				}
				for range instances {
					if err := <-errs; err != nil {
						t.Error(err)
					}
				}
				s := openOrFail(t, url)
				var n int
				if err := s.w.Raw("SELECT COUNT(*) FROM goose_db_version").Scan(&n).Error; err != nil || n != knownVersion(t, s)+1 {
					t.Fatalf("goose_db_version holds %d rows (%v), want %d", n, err, knownVersion(t, s)+1)
				}
			})
		})
	}
}

// policyLines are a policy's rules as sorted lines.
func policyLines(p engine.Policy) []string {
	var out []string
	for _, r := range p.Rules {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}
