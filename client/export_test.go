package client

import "time"

// SetClock replaces the clock of token renewal; it returns the restore.
func SetClock(f func() time.Time) func() {
	old := now
	now = f
	return func() { now = old }
}
