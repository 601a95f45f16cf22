package systemtest

import (
	"bufio"
	"bytes"

	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// Attacks on request decoding: memory spent before anything is allowed
// (issue 21, item 2). A body of a megabyte of {} in a check batch decoded
// into hundreds of thousands of checks before the count was looked at, and
// an import's role_ids of "" did the same before the caller's rights were.

// junkBody is {"<field>":[<item>,<item>,...]} of at most size bytes.
func junkBody(prefix, item, suffix string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	for b.Len()+len(item)+1+len(suffix) < size {
		if b.Len() > len(prefix) {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// resetPeak sets the process's VmHWM back to its current RSS (Linux 4.0+),
// so that each flood is measured on its own.
func resetPeak(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

// flood sends n copies of body at once with token and returns the statuses
// seen (a connection the server closed after answering early counts as 0).
// Its own transport: the contract checker (contract_test.go) would validate
// each junk body's hundreds of thousands of elements against the document,
// for minutes.
func flood(t *testing.T, base, token, path string, body []byte, n int) map[int]int {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			status := 0
			if res, err := client.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				status = res.StatusCode
			} else {
				t.Logf("%s: %v", path, err)
			}
			mu.Lock()
			seen[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return seen
}

// The target of issue 21: 32 bodies of a megabyte of {} in a check batch at
// once, from a caller allowed to check, move the server's peak RSS by at
// most 100 MiB (they took it to gigabytes); eight imports of 8 MiB of "" in
// role_ids, from a check-only client and from the admin, likewise.
func TestAttackDecodeJunkMemory(t *testing.T) {
	p := startProcess(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_READ_TIMEOUT": "2m"}) // a slow shared machine reads 32 bodies at once
	p.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	cl := mustAs[api.APIClient](p.server, 201, "POST", "/v1/clients", map[string]any{"name": "checker", "entity_id": "acme", "scopes": []string{"check"}})
	st, checker := p.clientToken("/v1/auth/token", cl.ClientID, cl.Secret)
	if st != 200 {
		t.Fatalf("token: %d", st)
	}
	// Warm: one real check and one import, so the baseline holds what any
	// served process holds.
	p.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u1"})
	if st, _, out := p.callToken(checker, "POST", "/v1/check/batch", map[string]any{"checks": []any{
		map[string]any{"entity_id": "acme", "user_id": "u1", "object_type": "payable", "action": "read"}}}); st != 200 {
		t.Fatalf("warm batch: %d %v", st, out)
	}
	p.must(200, "POST", "/v1/entities/acme/users/import", map[string]any{"users": importUsers(2)})
	pid := p.cmd.Process.Pid
	resetPeak(pid)
	before := peakRSS(t, pid)

	imp := junkBody(`{"users":[{"id":"x","role_ids":[`, `""`, `]}]}`, 8<<20-64)
	for _, who := range []struct {
		token string
		want  int
	}{{checker, 403}, {testToken, 422}} {
		seen := flood(t, p.base, who.token, "/v1/entities/acme/users/import", imp, 8)
		defer func() {
			if seen[who.want]+seen[0] != 8 || seen[who.want] == 0 {
				t.Errorf("8 junk imports answered %v, want %d each", seen, who.want)
			}
		}()
	}
	afterImport := peakRSS(t, pid)
	resetPeak(pid)
	beforeBatch := peakRSS(t, pid)

	batch := junkBody(`{"checks":[`, `{}`, `]}`, 1<<20-64)
	batchSeen := flood(t, p.base, checker, "/v1/check/batch", batch, 32)
	afterBatch := peakRSS(t, pid)
	t.Logf("peak RSS: %d MiB before, %d MiB after 16 junk imports, 8 at once (+%d MiB); %d MiB before, %d MiB after 32 junk batches at once (+%d MiB)",
		before>>20, afterImport>>20, (afterImport-before)>>20, beforeBatch>>20, afterBatch>>20, (afterBatch-beforeBatch)>>20)
	if afterImport-before > 100<<20 {
		t.Errorf("16 junk imports raised the server's peak RSS by %d MiB (limit 100 MiB)", (afterImport-before)>>20)
	}
	if afterBatch-beforeBatch > 100<<20 {
		t.Errorf("32 junk batches raised the server's peak RSS by %d MiB (limit 100 MiB)", (afterBatch-beforeBatch)>>20)
	}
	if t.Failed() {
		return
	}
	// An early answer may close the connection before the client sent
	// everything (0 here); at least one must be seen.
	if batchSeen[422]+batchSeen[0] != 32 || batchSeen[422] == 0 {
		t.Fatalf("32 junk batches answered %v, want 422 each", batchSeen)
	}
	// Still serving.
	if st, _, out := p.callToken(checker, "POST", "/v1/check", map[string]any{
		"entity_id": "acme", "user_id": "u1", "object_type": "payable", "action": "read"}); st != 200 {
		t.Fatalf("check after the flood: %d %v", st, out)
	}
}

// What can be refused before the body is read is: a check or a batch from a
// token without the check scope, an import from a caller without the rights
// to create and update users (403, nothing written). A list past its limit
// is 422 at the element past it, naming the field.
func TestAttackDecodeRightsFirstAndLimits(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	token := func(scope string) string {
		cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": scope, "entity_id": "acme", "scopes": []string{scope}})
		st, tok := s.clientToken("/v1/auth/token", cl.ClientID, cl.Secret)
		if st != 200 {
			t.Fatalf("token: %d", st)
		}
		return tok
	}
	manager, checker := token("manage"), token("check")
	before := s.stateOf("acme")

	junk := string(junkBody(`{"checks":[`, `{}`, `]}`, 64<<10))
	for _, path := range []string{"/v1/check/batch", "/v1/check"} {
		if st, _, out := s.callTokenBad(manager, "POST", path, junk); st != 403 || errCode(out) != "insufficient_scope" {
			t.Fatalf("%s without the check scope: %d %v, want 403 insufficient_scope", path, st, out)
		}
	}
	imp := string(junkBody(`{"users":[{"id":"x","role_ids":[`, `""`, `]}]}`, 64<<10))
	if st, _, out := s.callTokenBad(checker, "POST", "/v1/entities/acme/users/import", imp); st != 403 || errCode(out) != "insufficient_scope" {
		t.Fatalf("an import by a check-only client: %d %v, want 403", st, out)
	}
	s.sameState("acme", before)

	check := map[string]any{"entity_id": "acme", "user_id": "u1", "object_type": "payable", "action": "read"}
	checks := make([]any, 1001)
	for i := range checks {
		checks[i] = check
	}
	for _, c := range []struct {
		token, path string
		body        any
		code, field string
	}{
		{checker, "/v1/check/batch", map[string]any{"checks": checks}, "invalid_batch", "checks"},
		{checker, "/v1/check/batch", junk, "invalid_batch", "checks"},
		{testToken, "/v1/entities/acme/users/import", imp, "too_many_roles", "users[0].role_ids"},
		{testToken, "/v1/entities/acme/roles", `{"name":"r","permissions":{"objects":[` + strings.TrimSuffix(strings.Repeat(`{},`, 1001), ",") + `]}}`, "too_many_rights", "permissions.objects"},
	} {
		st, _, out := s.callTokenBad(c.token, "POST", c.path, c.body)
		if st != 422 || errCode(out) != c.code || strings.Join(detailFields(out), ",") != c.field {
			t.Fatalf("%s: %d %v, want 422 %s naming %s", c.path, st, out, c.code, c.field)
		}
	}
	s.sameState("acme", before)
	// At the limits, accepted.
	if st, _, out := s.callToken(checker, "POST", "/v1/check/batch", map[string]any{"checks": checks[:1000]}); st != 200 {
		t.Fatalf("1,000 checks: %d %v", st, out)
	}
}
