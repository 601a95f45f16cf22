package adapters

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// TestStoreTimeout: with a store timeout, a transaction that outlives it
// answers ErrUnavailable and is rolled back, also when its COMMIT comes
// after the deadline; a write waiting on a lock another transaction holds
// answers ErrUnavailable within the timeout; the server-side timeouts are
// set on PostgreSQL and MySQL.
func TestStoreTimeout(t *testing.T) {
	onEveryDatabaseURL(t, "store timeout test", func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		ctx := context.Background()
		const timeout = 1500 * time.Millisecond
		s, err := OpenWith(ctx, url, OpenOptions{Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		plain := openOrFail(t, url) // no timeout

		switch s.Dialect() {
		case "postgres":
			for _, name := range []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"} {
				var v string
				if err := s.DB().Raw("SHOW " + name).Scan(&v).Error; err != nil || v != "1500ms" {
					t.Errorf("%s = %q (%v), want 1500ms", name, v, err)
				}
			}
		case "mysql":
			var lockWait int
			if err := s.DB().Raw("SELECT @@innodb_lock_wait_timeout").Row().Scan(&lockWait); err != nil || lockWait != 1 {
				t.Errorf("innodb_lock_wait_timeout %d (%v), want 1", lockWait, err)
			}
			var maxExec float64
			if err := s.DB().Raw("SELECT @@max_execution_time").Row().Scan(&maxExec); err == nil {
				if maxExec != 1500 {
					t.Errorf("max_execution_time %v, want 1500", maxExec)
				}
			} else if err := s.DB().Raw("SELECT @@max_statement_time").Row().Scan(&maxExec); err != nil || maxExec != 1.5 {
				t.Errorf("max_statement_time %v (%v), want 1.5", maxExec, err)
			}
		case "sqlite":
			var busy int
			if err := s.DB().Raw("PRAGMA busy_timeout").Row().Scan(&busy); err != nil || busy != 1500 {
				t.Errorf("busy_timeout %d (%v), want 1500", busy, err)
			}
		}

		// A transaction outliving the timeout: rolled back, unavailable.
		err = s.Update(ctx, func(tx policy.Tx) error {
			if err := tx.InsertEntity(&rolegate.Entity{ID: "slow", Name: "slow", CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
				return err
			}
			time.Sleep(timeout + 300*time.Millisecond)
			return nil
		})
		if !errors.Is(err, rolegate.ErrUnavailable) {
			t.Fatalf("transaction past the timeout: %v, want ErrUnavailable", err)
		}
		err = plain.View(ctx, func(tx policy.Tx) error { _, err := tx.GetEntity("slow"); return err })
		if !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("the transaction past the timeout committed: %v", err)
		}

		// A write waiting on a lock held by another transaction.
		if err := s.Update(ctx, func(tx policy.Tx) error {
			return tx.InsertEntity(&rolegate.Entity{ID: "e", Name: "e", CreatedAt: time.Now(), UpdatedAt: time.Now()})
		}); err != nil {
			t.Fatal(err)
		}
		locked, release, holderDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			holderDone <- plain.Update(ctx, func(tx policy.Tx) error {
				if _, err := tx.BumpRevision("e", time.Now()); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		start := time.Now()
		_, err = 0, s.Update(ctx, func(tx policy.Tx) error { _, err := tx.BumpRevision("e", time.Now()); return err })
		waited := time.Since(start)
		close(release)
		if err := <-holderDone; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(err, rolegate.ErrUnavailable) {
			t.Fatalf("write waiting on a lock: %v after %v, want ErrUnavailable", err, waited)
		}
		t.Logf("write waiting on a lock answered ErrUnavailable after %v (timeout %v)", waited, timeout)
	})
}
