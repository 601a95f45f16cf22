//go:build !linux

package adapters

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist; the
// keepalive probes still end a dead connection.
func setUserTimeout(network, address string, c syscall.RawConn) error { return nil }
