package adapters

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// TestSQLiteSynchronous: SQLite's synchronous mode is what OpenOptions asks
// (FULL unless told), on the writing and the reading connections alike; an
// unknown mode, and "off", are refused.
func TestSQLiteSynchronous(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL, 3 EXTRA
	}{{"", 2}, {"full", 2}, {"normal", 1}, {"extra", 3}} {
		s, err := OpenWith(ctx, "sqlite://"+filepath.Join(t.TempDir(), "rolegate.db"), OpenOptions{SQLiteSynchronous: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		for name, db := range map[string]*gorm.DB{"write": s.w, "read": s.r} {
			var got int
			if err := db.Raw("PRAGMA synchronous").Scan(&got).Error; err != nil || got != tc.want {
				t.Errorf("mode %q, %s connection: synchronous %d, %v; want %d", tc.mode, name, got, err, tc.want)
			}
		}
		s.Close()
	}
	for _, mode := range []string{"off", "FULLY", "0"} {
		if s, err := OpenWith(ctx, "sqlite://"+filepath.Join(t.TempDir(), "rolegate.db"), OpenOptions{SQLiteSynchronous: mode}); err == nil {
			s.Close()
			t.Errorf("mode %q was taken", mode)
		}
	}
}

// BenchmarkSQLiteCommit: one small write (a revision bump and a rule), as
// the service commits it, under each synchronous mode. FULL waits for the
// disk at every commit; NORMAL only at checkpoints.
func BenchmarkSQLiteCommit(b *testing.B) {
	for _, mode := range []string{"normal", "full"} {
		b.Run(mode, func(b *testing.B) {
			s, err := OpenWith(ctx, "sqlite://"+filepath.Join(b.TempDir(), "rolegate.db"), OpenOptions{SQLiteSynchronous: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			now := time.Now().UTC()
			if err := s.Update(ctx, func(tx policy.Tx) error {
				return tx.InsertEntity(&rolegate.Entity{ID: "e", Revision: 1, CreatedAt: now, UpdatedAt: now})
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				err := s.Update(ctx, func(tx policy.Tx) error {
					if _, err := tx.BumpRevision("e", now); err != nil {
						return err
					}
					return tx.AddRules([]rolegate.Rule{{PType: "g", Values: []string{fmt.Sprintf("u:%d", i), "r:x", "e"}}})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
