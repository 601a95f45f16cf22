package main

import (
	"context"

	"github.com/rolegate/rolegate/adapters"
)

// openStore opens the configured database with its settings (SQLite's
// synchronous mode) and applies the migrations.
func (c Config) openStore(ctx context.Context) (*adapters.Store, error) {
	return adapters.OpenWith(ctx, c.DatabaseURL, adapters.OpenOptions{SQLiteSynchronous: c.SQLiteSynchronous})
}
