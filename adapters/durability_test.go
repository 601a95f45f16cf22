package adapters

import (
	"path/filepath"
	"testing"

	"gorm.io/gorm"
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
