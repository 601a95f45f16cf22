package adapters

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/rolegate/rolegate/policy"
)

// Deadlines: a database that hangs (a proxy that stops forwarding, a network
// dropped without a reset, a lock held) must fail a transaction within the
// store timeout, rolled back, and never commit after its caller was told it
// failed.
//
//   - Every transaction runs under a context that ends at the timeout; past
//     it the driver gives up, database/sql rolls back (or drops the
//     connection), and the error is ErrUnavailable (503 storage_unavailable).
//   - PostgreSQL: the connections carry statement_timeout, lock_timeout and
//     idle_in_transaction_session_timeout, so the server gives up too; and
//     each write tells the server, just before COMMIT, to end the session
//     should the COMMIT arrive later than the deadline (commitGuard). A
//     COMMIT held up in the network then rolls back on the server instead of
//     landing after the caller got its 503.
//   - MySQL: innodb_lock_wait_timeout and max_execution_time (SELECT only;
//     MariaDB: max_statement_time). No server-side guard of the COMMIT: a
//     COMMIT held up in the network past the deadline may still land.
//   - SQLite: the busy timeout (another process holding the write lock) is
//     the store timeout; SQLite does not interrupt that wait otherwise.
//   - Every connection: TCP keepalive after 5 s idle and, on Linux,
//     TCP_USER_TIMEOUT (dial_linux.go), so a dropped network ends the
//     connection in seconds rather than the kernel's 15 minutes.

// Keepalive probes of database connections: the first after keepAliveIdle
// without traffic, then every keepAliveInterval, keepAliveCount unanswered
// ending the connection.
const (
	keepAliveIdle     = 5 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	// tcpUserTimeout: data sent and not acknowledged by the peer's kernel
	// for this long ends the connection. A slow query is acknowledged all
	// along; only a dead network or host is not.
	tcpUserTimeout = 10 * time.Second
)

// dialer dials database connections with keepalive and a user timeout.
func dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:         10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
}

// millis is d in whole milliseconds, at least 1 (0 turns PostgreSQL's timeouts
// off).
func millis(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// postgresDialector opens PostgreSQL through pgx with the dialer and, given a
// timeout, the server-side timeouts (unless the URL sets them).
func postgresDialector(rawURL string, timeout time.Duration) (gorm.Dialector, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	cfg.DialFunc = dialer().DialContext
	if timeout > 0 {
		for _, name := range []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"} {
			if _, set := cfg.RuntimeParams[name]; !set {
				cfg.RuntimeParams[name] = millis(timeout)
			}
		}
	}
	return postgres.New(postgres.Config{Conn: stdlib.OpenDB(*cfg)}), nil
}

// mysqlDialector opens MySQL with the dialer and, given a timeout, the lock
// wait timeout (unless the URL sets it) and the statement timeout
// (statementTimeout).
func mysqlDialector(rawURL string, timeout time.Duration) (gorm.Dialector, error) {
	dsn, err := MySQLDSN(rawURL)
	if err != nil {
		return nil, err
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	cfg.DialFunc = dialer().DialContext
	if timeout > 0 {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		if _, given := cfg.Params["innodb_lock_wait_timeout"]; !given {
			cfg.Params["innodb_lock_wait_timeout"] = strconv.FormatInt(max(int64(timeout.Seconds()), 1), 10) // whole seconds
		}
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if timeout > 0 {
		conn = statementTimeout{conn, timeout}
	}
	return gmysql.New(gmysql.Config{Conn: sql.OpenDB(conn), DSNConfig: cfg}), nil
}

// statementTimeout sets the server's statement timeout on each new MySQL
// connection: MySQL's max_execution_time (SELECT only), or where it is
// unknown MariaDB's max_statement_time.
type statementTimeout struct {
	driver.Connector
	timeout time.Duration
}

func (c statementTimeout) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return conn, nil
	}
	_, err = ex.ExecContext(ctx, "SET SESSION max_execution_time = "+millis(c.timeout), nil)
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) && myErr.Number == 1193 { // unknown variable: MariaDB
		_, err = ex.ExecContext(ctx, fmt.Sprintf("SET SESSION max_statement_time = %.3f", c.timeout.Seconds()), nil)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// commitMargin is how much of the deadline is kept for the answer to COMMIT:
// the server must have the COMMIT that much before the deadline.
func commitMargin(timeout time.Duration) time.Duration { return min(timeout/5, time.Second) }

// errDeadline is the cause of a transaction that reached the store timeout.
var errDeadline = errors.New("the database did not answer within the store timeout")

// run runs fn in one transaction on db, bounded by the store timeout; a write
// (PostgreSQL) is guarded so that its COMMIT cannot land after the deadline.
// A read of an entity's history that meets revisions waiting to be filed
// (errUnfiled) runs again in a write transaction that holds the entity
// first: its reads file them (tx.filedTo).
func (s *Store) run(ctx context.Context, db *gorm.DB, write bool, fn func(policy.Tx) error, opts ...*sql.TxOptions) error {
	err := s.runTx(ctx, db, write, fn, opts...)
	var u *errUnfiled
	if write || !errors.As(err, &u) {
		return err
	}
	return s.runTx(ctx, s.w, true, func(ptx policy.Tx) error {
		if err := ptx.(*tx).lockHistory(u.entityID); err != nil {
			return err
		}
		return fn(ptx)
	})
}

// runTx is run without its second try.
func (s *Store) runTx(ctx context.Context, db *gorm.DB, write bool, fn func(policy.Tx) error, opts ...*sql.TxOptions) error {
	if s.timeout <= 0 {
		return translate(db.WithContext(ctx).Transaction(func(g *gorm.DB) error { return fn(&tx{db: g, write: write}) }, opts...))
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := db.WithContext(tctx).Transaction(func(g *gorm.DB) error {
		if err := fn(&tx{db: g, write: write}); err != nil {
			return err
		}
		if write && s.dialect == "postgres" {
			return commitGuard(tctx, g, commitMargin(s.timeout))
		}
		return nil
	}, opts...)
	if err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return unavailable(fmt.Errorf("%w (%v): %v", errDeadline, s.timeout, err))
	}
	return translate(err)
}

// commitGuard tells PostgreSQL to end the session, rolling the transaction
// back, if the COMMIT that follows does not arrive before the deadline less
// margin (the time left for COMMIT's answer to come back). Without it, a
// COMMIT held up in the network could commit after the caller was answered
// 503.
func commitGuard(ctx context.Context, g *gorm.DB, margin time.Duration) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	left := time.Until(deadline) - margin
	if left < time.Millisecond {
		return unavailable(errDeadline)
	}
	// SET takes no bind parameter; the value is a number written here.
	return translate(g.Exec("SET LOCAL idle_in_transaction_session_timeout = " + millis(left)).Error)
}

// isServerTimeout reports whether the database ended a statement or the
// session on one of the timeouts set here: PostgreSQL's statement_timeout
// (57014), lock_timeout (55P03) and idle_in_transaction_session_timeout
// (25P03); MySQL's innodb_lock_wait_timeout (1205) and max_execution_time
// (3024); MariaDB's max_statement_time (1969).
func isServerTimeout(err error) bool {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code == "57014" || pgErr.Code == "55P03" || pgErr.Code == "25P03"
	case errors.As(err, &myErr):
		return myErr.Number == 1205 || myErr.Number == 3024 || myErr.Number == 1969
	}
	return false
}
