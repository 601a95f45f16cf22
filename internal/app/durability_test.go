package app

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

// TestSQLiteSynchronousSetting: ROLEGATE_SQLITE_SYNCHRONOUS (full unless set)
// reaches the database the program opens, and a mode SQLite would not keep
// safe is refused at start.
func TestSQLiteSynchronousSetting(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL, 3 EXTRA
	}{{"", 2}, {"normal", 1}, {"full", 2}, {"extra", 3}} {
		env := map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_SQLITE_SYNCHRONOUS": tc.env}
		cfg, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		store, err := cfg.openStore(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		err = store.DB().Raw("PRAGMA synchronous").Scan(&got).Error
		store.Close()
		if err != nil || got != tc.want {
			t.Errorf("ROLEGATE_SQLITE_SYNCHRONOUS=%q: synchronous %d, %v; want %d", tc.env, got, err, tc.want)
		}
	}
	for _, bad := range []string{"off", "OFF", "fast"} {
		env := map[string]string{"ROLEGATE_SQLITE_SYNCHRONOUS": bad}
		if _, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard); err == nil {
			t.Errorf("ROLEGATE_SQLITE_SYNCHRONOUS=%s was taken", bad)
		}
	}
}

func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "rolegate.db")
}
