package adapters

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/storetest"
)

// The storage suite runs against SQLite always, and against PostgreSQL and
// MySQL when their URL variables name a server.

func TestStorage(t *testing.T) {
	onEveryDatabase(t, "storage suite", func(t *testing.T, open func(t *testing.T) *Store) {
		storetest.Run(t, func(t *testing.T) policy.Store { return open(t) })
		runSQLSuite(t, open)
	})
}

// onEveryDatabase runs fn as a subtest on SQLite, and on PostgreSQL and MySQL
// when ROLEGATE_TEST_POSTGRES_URL / ROLEGATE_TEST_MYSQL_URL name a server
// (skipped with a message otherwise); open gives a fresh, empty store.
func onEveryDatabase(t *testing.T, what string, fn func(t *testing.T, open func(t *testing.T) *Store)) {
	onEveryDatabaseURL(t, what, func(t *testing.T, newURL func(t *testing.T) string) {
		fn(t, func(t *testing.T) *Store { return openOrFail(t, newURL(t)) })
	})
}

// onEveryDatabaseURL is onEveryDatabase for tests that open the database
// themselves: newURL names a fresh, empty database (PostgreSQL: a schema),
// dropped after the test.
func onEveryDatabaseURL(t *testing.T, what string, fn func(t *testing.T, newURL func(t *testing.T) string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "rolegate.db") })
	})
	for _, db := range []struct {
		name, env string
		newURL    func(testing.TB, string) string
	}{{"postgres", "ROLEGATE_TEST_POSTGRES_URL", postgresSchemaURL}, {"mysql", "ROLEGATE_TEST_MYSQL_URL", mysqlDatabaseURL}} {
		t.Run(db.name, func(t *testing.T) {
			base := os.Getenv(db.env)
			if base == "" {
				t.Skipf("%s not set: skipping the %s %s", db.env, db.name, what)
			}
			fn(t, func(t *testing.T) string { return db.newURL(t, base) })
		})
	}
}

func openOrFail(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", RedactURL(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connectOrFail opens a store without applying the migrations.
func connectOrFail(t *testing.T, url string) *Store {
	t.Helper()
	s, err := connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", RedactURL(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresSchemaURL makes a fresh schema of the test server, dropped after.
func postgresSchemaURL(t testing.TB, base string) string {
	t.Helper()
	admin := openOrFail(t, base)
	schema := "rg_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if err := admin.w.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.w.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// mysqlDatabaseURL makes a fresh database of the test server, dropped after.
func mysqlDatabaseURL(t testing.TB, base string) string {
	t.Helper()
	admin := openOrFail(t, base)
	name := "rg_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if err := admin.w.Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.w.Exec("DROP DATABASE " + name) })
	u := base
	q := ""
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u, q = u[:i], u[i:]
	}
	return u[:strings.LastIndexByte(u, '/')+1] + name + q
}

// runSQLSuite is what the conformance suite cannot see through the
// interface: the tables and the migrations.
func runSQLSuite(t *testing.T, open func(t *testing.T) *Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"LoadPolicyReadsNULLColumn", testLoadPolicyNULLColumn},
		{"DeleteEntityLeavesNoRows", testDeleteEntityRows},
		{"MigrateTwice", func(t *testing.T, s *Store) {
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			last := knownVersion(t, s)
			if v, err := s.SchemaVersion(context.Background()); err != nil || v != last {
				t.Fatalf("schema version %d, %v", v, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func ap(action string, p rolegate.Permission) rolegate.ActionPermission {
	return rolegate.ActionPermission{ActionName: action, Permission: p}
}

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// The fixtures are the conformance suite's.
var (
	mustUpdate = storetest.MustUpdate
	newEntity  = storetest.NewEntity
	newRole    = storetest.NewRole
)

// testLoadPolicyNULLColumn: LoadPolicy, which reads each rule's values
// joined in one column, reads a rule with a NULL column (which its separator
// cannot join) column by column, as stored.
func testLoadPolicyNULLColumn(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	rules := []rolegate.Rule{
		{PType: "p", Values: []string{"r:a", "e", "doc", "read", "any", "allow"}},
		{PType: "p", Values: []string{"r:short", "e", "doc"}}, // malformed, read as stored
		{PType: "g", Values: []string{"u:ada", "r:a", "e"}},
	}
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules(rules) })
	if err := s.w.Exec("UPDATE casbin_rule SET v5 = NULL WHERE ptype = 'p' AND v0 = 'r:short'").Error; err != nil {
		t.Fatal(err)
	}
	got, want, err := storetest.LoadedAndStored(s, "e")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) != 3 {
		t.Fatalf("a NULL column: LoadPolicy read\n%v\nstored\n%v", got, want)
	}
}

// testDeleteEntityRows: no row of a deleted entity is left in any table
// (the conformance suite sees what the interface reads).
func testDeleteEntityRows(t *testing.T, s *Store) {
	storetest.Populate(t, s, "e")
	storetest.Populate(t, s, "keep")
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteEntity("e") })
	for _, table := range []string{"roles", "users", "assignments"} {
		var n int64
		s.r.Table(table).Where("entity_id = ?", "e").Count(&n)
		if n != 0 {
			t.Errorf("%s of a deleted entity: %d rows", table, n)
		}
	}
	var n int64
	s.r.Table("casbin_rule").Count(&n)
	if pol, _ := s.LoadPolicy(ctx, "keep"); n != 2 || len(pol.Rules) != 2 {
		t.Fatalf("rules left: %d in the table, %+v of the other entity", n, pol.Rules)
	}
}

func TestOpenURLs(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"mysql://root@127.0.0.1:3306/test", "root@tcp(127.0.0.1:3306)/test?"},
		{"mysql://u:p%40ss@db/rg?tls=true", "u:p@ss@tcp(db:3306)/rg?"},
	} {
		dsn, err := MySQLDSN(c.url)
		if err != nil || !strings.HasPrefix(dsn, c.want) || !strings.Contains(dsn, "parseTime=true") {
			t.Errorf("MySQLDSN(%q) = %q, %v; want prefix %q", c.url, dsn, err, c.want)
		}
	}
	if _, err := MySQLDSN("mysql://root@host"); err == nil {
		t.Error("mysql URL without a database accepted")
	}
	for _, bad := range []string{"redis://x", "rolegate.db", "sqlite://"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if p, err := SQLitePath("sqlite:///var/lib/rg.db"); err != nil || p != "/var/lib/rg.db" {
		t.Errorf("absolute sqlite path: %q %v", p, err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, rolegate.ErrUnavailable) {
		t.Fatalf("unreachable database: %v", err)
	}
}

// TestConnErrorsAreUnavailable: the errors of a connection refused, cut or
// closed, and of a server shutting down, are storage_unavailable (503), not
// internal errors.
func TestConnErrorsAreUnavailable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("begin: %w", pgconn.ErrConnClosed),
		&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"},
		&pgconn.PgError{Code: "08006", Message: "connection failure"},
		&mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"},
		mysql.ErrInvalidConn,
		driver.ErrBadConn,
	} {
		if got := translate(err); !errors.Is(got, rolegate.ErrUnavailable) {
			t.Errorf("%v: not unavailable: %v", err, got)
		}
	}
	for _, err := range []error{
		&pgconn.PgError{Code: "23505", Message: "duplicate key"},
		&pgconn.PgError{Code: "42P01", Message: "relation does not exist"},
		&mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"},
		errors.New("something else"),
	} {
		if got := translate(err); errors.Is(got, rolegate.ErrUnavailable) {
			t.Errorf("%v: unavailable", err)
		}
	}
}
