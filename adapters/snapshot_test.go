package adapters

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// TestLoadPolicyOneSnapshot: loads racing a stream of writes each read one
// revision's policy, never one revision's number with another's rules. The
// write of revision n adds role "r<n>" with the one rule "read o<n>", so the
// entity at revision n holds exactly the roles and rules 2..n. MySQL's
// sessions are set to READ COMMITTED, as a server may be configured (its
// default, REPEATABLE READ, would hide a load that does not ask for it).
func TestLoadPolicyOneSnapshot(t *testing.T) {
	onEveryDatabaseURL(t, "snapshot test", func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		var s *Store
		if strings.HasPrefix(url, "mysql:") {
			sep := "?"
			if strings.Contains(url, "?") {
				sep = "&"
			}
			// MySQL 8 and MariaDB 11.1 name the variable so; older ones tx_isolation.
			for _, v := range []string{"transaction_isolation", "tx_isolation"} {
				var err error
				if s, err = Open(ctx, url+sep+v+"=%27READ-COMMITTED%27"); err == nil {
					t.Cleanup(func() { s.Close() })
					break
				}
			}
			if s == nil {
				t.Fatal("cannot set MySQL's sessions to READ COMMITTED")
			}
		} else {
			s = openOrFail(t, url)
		}
		newEntity(t, s, "e")
		const writes = 150
		var done atomic.Bool
		var loads, moved atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := int64(0)
				for !done.Load() {
					pol, err := s.LoadPolicy(ctx, "e")
					if err == nil {
						err = atRevision(pol)
					}
					if err != nil {
						errs <- err
						return
					}
					loads.Add(1)
					if pol.Revision != last {
						moved.Add(1)
						last = pol.Revision
					}
				}
			}()
		}
		for i := 0; i < writes; i++ {
			mustUpdate(t, s, func(tx policy.Tx) error {
				rev, err := tx.BumpRevision("e", time.Now())
				if err != nil {
					return err
				}
				r := newRole(fmt.Sprintf("r%d", rev), "e", ms(time.Now()))
				if err := tx.InsertRole(&r); err != nil {
					return err
				}
				return tx.AddRules(engine.CompileRights(engine.RoleSubject(r.ID), "e", rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
					{ObjectType: fmt.Sprintf("o%d", rev), Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}))
			})
		}
		done.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		t.Logf("%d loads during %d writes, %d changes of revision seen by the loaders", loads.Load(), writes, moved.Load())
		pol, err := s.LoadPolicy(ctx, "e")
		if err != nil || pol.Revision != writes+1 || atRevision(pol) != nil {
			t.Fatalf("after the writes: revision %d, %v, %v", pol.Revision, err, atRevision(pol))
		}
	})
}

// atRevision says how a loaded policy differs from the entity at its
// revision n: roles r2..rn, each with its rule "read o<k>".
func atRevision(pol engine.Policy) error {
	n := pol.Revision
	if int64(len(pol.Rules)) != n-1 || int64(len(pol.RoleNames)) != n-1 {
		return fmt.Errorf("revision %d loaded with %d rules and %d roles, want %d of each", n, len(pol.Rules), len(pol.RoleNames), n-1)
	}
	names := map[string]bool{}
	for _, name := range pol.RoleNames {
		names[name] = true
	}
	for _, r := range pol.Rules {
		k, err := strconv.ParseInt(strings.TrimPrefix(r.Values[2], "o"), 10, 64)
		if err != nil || k < 2 || k > n {
			return fmt.Errorf("revision %d loaded with the rule %v", n, r)
		}
		if !names[fmt.Sprintf("r%d", k)] {
			return fmt.Errorf("revision %d loaded with the rule %v but not its role", n, r)
		}
	}
	return nil
}
