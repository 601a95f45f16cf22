// Package adapters holds Rolegate's storage: the gorm database chosen by URL
// (SQLite, PostgreSQL, MySQL), its versioned schema (SQL files in migrations/,
// applied by goose: schema.go), and the Store that implements policy.Store
// over it, keeping roles, users, assignments and their compiled rules (casbin
// gorm-adapter's casbin_rule table) in step.
package adapters

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/rolegate/rolegate"
)

// Store is the gorm-backed policy.Store.
type Store struct {
	dialect string
	w       *gorm.DB // writes (SQLite: one connection, immediate transactions)
	r       *gorm.DB // reads
	closers []*sql.DB
	// timeout bounds each transaction (Update, View); 0: none.
	timeout time.Duration
}

// Dialect returns "sqlite", "postgres" or "mysql".
func (s *Store) Dialect() string { return s.dialect }

// Close closes the database connections.
func (s *Store) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// DB returns the gorm database for tools that read the tables directly.
func (s *Store) DB() *gorm.DB { return s.r }

func gormConfig() *gorm.Config {
	return &gorm.Config{TranslateError: true, Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }}
}

// Open connects to the database the URL names and applies the migrations.
// Its transactions have no deadline but the caller's (tools, tests); the
// server uses OpenWith.
//
//	sqlite://rolegate.db          a file, relative to the working directory
//	sqlite:///var/lib/rolegate.db an absolute path
//	postgres://user:pass@host:5432/db?sslmode=disable
//	mysql://user:pass@host:3306/db
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return OpenWith(ctx, rawURL, OpenOptions{})
}

// OpenOptions tune how the store talks to its database.
type OpenOptions struct {
	// Timeout bounds every transaction: past it the transaction is rolled
	// back and answers ErrUnavailable. It is also the database's own
	// statement and lock timeouts (PostgreSQL, MySQL) and SQLite's busy
	// timeout (deadline.go). 0: no deadline.
	Timeout time.Duration
	// SQLiteSynchronous is SQLite's synchronous setting: "full" (the
	// default: a write acknowledged survives a power loss, each commit waits
	// for the disk), "normal" (a commit does not wait for the disk: it
	// survives the process being killed, but the last writes acknowledged
	// may be lost on a power loss or an OS crash), or "extra". Only SQLite
	// reads it; PostgreSQL and MySQL keep their servers' own settings.
	SQLiteSynchronous string
}

// SQLiteSynchronousModes are the values OpenOptions.SQLiteSynchronous takes
// ("off", which may corrupt the database on a power loss, is not one).
var SQLiteSynchronousModes = []string{"full", "normal", "extra"}

// OpenWith is Open with options. The migrations run on connections without
// the timeouts: one may take longer than a request's transaction.
func OpenWith(ctx context.Context, rawURL string, o OpenOptions) (*Store, error) {
	s, err := connectWith(ctx, rawURL, OpenOptions{SQLiteSynchronous: o.SQLiteSynchronous})
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if o.Timeout <= 0 {
		return s, nil
	}
	s.Close()
	return connectWith(ctx, rawURL, o)
}

// connect connects to the database the URL names, as Open without the
// migrations.
func connect(ctx context.Context, rawURL string) (*Store, error) {
	return connectWith(ctx, rawURL, OpenOptions{})
}

// connectWith is connect with options.
func connectWith(ctx context.Context, rawURL string, o OpenOptions) (*Store, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("database URL %q has no scheme (sqlite://, postgres://, mysql://)", RedactURL(rawURL))
	}
	var s *Store
	var err error
	switch scheme {
	case "sqlite":
		s, err = openSQLite(rawURL, o.SQLiteSynchronous, o.Timeout)
	case "postgres", "postgresql":
		var d gorm.Dialector
		if d, err = postgresDialector(rawURL, o.Timeout); err == nil {
			s, err = openSingle("postgres", d)
		}
	case "mysql":
		var d gorm.Dialector
		if d, err = mysqlDialector(rawURL, o.Timeout); err == nil {
			s, err = openSingle("mysql", d)
		}
	default:
		return nil, fmt.Errorf("database URL: unknown scheme %q (want sqlite, postgres or mysql)", scheme)
	}
	if err != nil {
		return nil, err
	}
	s.timeout = o.Timeout
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SQLitePath returns the file a sqlite:// URL names.
func SQLitePath(rawURL string) (string, error) {
	path := strings.TrimPrefix(rawURL, "sqlite://")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return "", errors.New("database URL: sqlite:// needs a file path, such as sqlite://rolegate.db")
	}
	return path, nil
}

func openSQLite(rawURL, synchronous string, busy time.Duration) (*Store, error) {
	path, err := SQLitePath(rawURL)
	if err != nil {
		return nil, err
	}
	if synchronous == "" {
		synchronous = "full"
	}
	known := false
	for _, m := range SQLiteSynchronousModes {
		known = known || m == synchronous
	}
	if !known {
		return nil, fmt.Errorf("sqlite synchronous %q: want one of %s", synchronous, strings.Join(SQLiteSynchronousModes, ", "))
	}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + strings.ToUpper(synchronous) + ")&_pragma=foreign_keys(1)"
	if busy > 0 {
		// The store timeout: a write waiting on another process's lock
		// gives up with it (pragmas run in order: this one wins).
		pragmas += fmt.Sprintf("&_pragma=busy_timeout(%d)", busy.Milliseconds())
	}
	w, err := gorm.Open(sqlite.Open("file:"+path+"?"+pragmas+"&_txlock=immediate"), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb, err := w.DB()
	if err != nil {
		return nil, err
	}
	// One writer at a time: SQLite allows no more, and waiting in the pool is
	// better than failing with "database is locked".
	wdb.SetMaxOpenConns(1)
	r, err := gorm.Open(sqlite.Open("file:"+path+"?"+pragmas), gormConfig())
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rdb, err := r.DB()
	if err != nil {
		wdb.Close()
		return nil, err
	}
	rdb.SetMaxOpenConns(8)
	return &Store{dialect: "sqlite", w: w, r: r, closers: []*sql.DB{wdb, rdb}}, nil
}

func openSingle(dialect string, d gorm.Dialector) (*Store, error) {
	db, err := gorm.Open(d, gormConfig())
	if err != nil {
		return nil, unavailable(fmt.Errorf("open %s: %w", dialect, err))
	}
	sdb, err := db.DB()
	if err != nil {
		return nil, err
	}
	sdb.SetMaxOpenConns(32)
	sdb.SetMaxIdleConns(16)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{dialect: dialect, w: db, r: db, closers: []*sql.DB{sdb}}, nil
}

// MySQLDSN turns mysql://user:pass@host:port/db?x=y into a go-sql-driver DSN
// with parseTime, UTC and utf8mb4.
func MySQLDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return "", errors.New("database URL: mysql:// needs a database name, such as mysql://root@127.0.0.1:3306/rolegate")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Params = map[string]string{"charset": "utf8mb4"}
	for k, v := range u.Query() {
		cfg.Params[k] = v[0]
	}
	return cfg.FormatDSN(), nil
}

// RedactURL writes a database or Redis URL for logs and error messages,
// its password replaced by "xxxxx"; a URL that does not parse is not shown.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	for _, c := range s.closers {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.PingContext(pctx)
		cancel()
		if err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// unavailable marks an error as the database not answering.
func unavailable(err error) error {
	return fmt.Errorf("%w: %v", rolegate.ErrUnavailable, err)
}

// translate maps gorm and driver errors to the policy sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *rolegate.Error
	switch {
	case errors.As(err, &pe), errors.Is(err, rolegate.ErrNotFound), errors.Is(err, rolegate.ErrDuplicate), errors.Is(err, rolegate.ErrUnavailable):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%w: %v", rolegate.ErrNotFound, err)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %v", rolegate.ErrDuplicate, err)
	case isConnError(err), isServerTimeout(err):
		return unavailable(err)
	}
	return err
}

// isConnError reports whether err says the database could not be reached, or
// went away under a statement: a connection refused or cut (the server
// stopped, restarted, or a network or proxy in between failed), or a server
// shutting down or not yet accepting connections.
func isConnError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	switch {
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &opErr), errors.As(err, &netErr), errors.As(err, &connErr),
		errors.Is(err, pgconn.ErrConnClosed), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down, crashed or is starting.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	case errors.As(err, &myErr):
		return myErr.Number == 1053 // ER_SERVER_SHUTDOWN
	}
	return false
}
