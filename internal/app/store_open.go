package app

import (
	"context"
	"time"

	"github.com/rolegate/rolegate/adapters"
)

// openStore opens the configured database with its settings (SQLite's
// synchronous mode) and applies the migrations. timeout bounds each
// transaction (0: none, for tools such as doctor that read whole entities).
func (c Config) openStore(ctx context.Context, timeout time.Duration) (*adapters.Store, error) {
	return adapters.OpenWith(ctx, c.DatabaseURL, adapters.OpenOptions{SQLiteSynchronous: c.SQLiteSynchronous, Timeout: timeout})
}
