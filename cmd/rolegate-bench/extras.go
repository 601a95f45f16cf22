package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/rolegate/rolegate/policy"
)

// benchExtras measures who-can, a dry run and the access report on the
// tenant over HTTP (issue 16).
func benchExtras(client *http.Client, base string, tc tenantConfig, roleID string, add func(...row)) error {
	whoCan := func(obj, act, token string) (int, string, error) {
		q := url.Values{"object_type": {obj}, "action": {act}, "limit": {"100"}}
		if token != "" {
			q = url.Values{"pagination_token": {token}, "limit": {"100"}}
		}
		out, err := call(client, "GET", base+"/v1/entities/"+tenantID+"/who-can?"+q.Encode(), nil)
		if err != nil {
			return 0, "", err
		}
		var page struct {
			Data []json.RawMessage `json:"data"`
			Next *string           `json:"next_pagination_token"`
		}
		if err := json.Unmarshal(out, &page); err != nil {
			return 0, "", err
		}
		next := ""
		if page.Next != nil {
			next = *page.Next
		}
		return len(page.Data), next, nil
	}
	// The first question builds the tenant's grant index.
	t0 := time.Now()
	if _, _, err := whoCan(objects[0], actions[1], ""); err != nil {
		return err
	}
	first := time.Since(t0)
	var lat []time.Duration
	for i := 0; i < 40; i++ {
		t0 := time.Now()
		if _, _, err := whoCan(objects[i%len(objects)], actions[(i/len(objects))%len(actions)], ""); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	add(row{name: "HTTP who-can, first page of 100", p50: dur(pct(lat, 50)), p99: dur(pct(lat, 99)),
		note: fmt.Sprintf("40 questions over %d object types; the first question after a load builds the grant index: %v", len(objects), dur(first))})
	// Every page of one question.
	t0 = time.Now()
	users, pages, token := 0, 0, ""
	for {
		n, next, err := whoCan(objects[0], actions[1], token)
		if err != nil {
			return err
		}
		users, pages, token = users+n, pages+1, next
		if token == "" {
			break
		}
	}
	all := time.Since(t0)
	add(row{name: fmt.Sprintf("HTTP who-can %s %s, every page", actions[1], objects[0]), p50: dur(all / time.Duration(pages)),
		note: fmt.Sprintf("%d users allowed in %d pages, %v in all (each page walks the holders of the granting roles)", users, pages, all.Round(time.Millisecond))})

	// A dry run of a role PUT: the role's holders' rights before and after.
	perms := rights(1, tc.rights)
	b, _ := json.Marshal(map[string]any{"name": "role 1", "permissions": policy.DocOf(perms)})
	lat = lat[:0]
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		if _, err := call(client, "PUT", base+"/v1/entities/"+tenantID+"/roles/"+roleID+"?dry_run=true", b); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	add(row{name: "HTTP PUT role ?dry_run=true", p50: dur(pct(lat, 50)), p99: dur(pct(lat, 99)),
		note: fmt.Sprintf("10 runs; the role is held by %d users", tc.users*tc.rolesPerUser/tc.roles)})

	// The access report, streamed; the live heap is sampled meanwhile.
	for _, accept := range []string{"application/json", "text/csv"} {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base0 := ms.HeapAlloc
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}()
		req, _ := http.NewRequest("GET", base+"/v1/entities/"+tenantID+"/access-report", nil)
		req.Header.Set("Authorization", "Bearer bench-token")
		req.Header.Set("Accept", accept)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			close(stop)
			return err
		}
		var firstByte time.Duration
		buf := make([]byte, 64<<10)
		var n int64
		for {
			k, err := res.Body.Read(buf)
			if n == 0 && k > 0 {
				firstByte = time.Since(t0)
			}
			n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				res.Body.Close()
				close(stop)
				return err
			}
		}
		res.Body.Close()
		took := time.Since(t0)
		close(stop)
		<-done
		grow := int64(peak.Load()) - int64(base0)
		add(row{name: "HTTP access report, " + accept, throughput: fmt.Sprintf("%.0f users/s", float64(tc.users)/took.Seconds()),
			p50: dur(took), note: fmt.Sprintf("%d MiB streamed, first byte after %v; live heap peak %+d MiB over the %d MiB before (server and client, one process)",
				n>>20, dur(firstByte), grow>>20, base0>>20)})
	}
	return nil
}
