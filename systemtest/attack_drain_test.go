package systemtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrainsKeptAliveConnections: a rolegate process gets SIGTERM in
// the middle of a load of checks and writes over kept-alive connections.
// /readyz answers 503 shutting_down, answers carry Connection: close, and
// requests go on being served during the drain period: no request of the
// load fails with a cut connection (EOF, reset); each is answered, or
// refused before it was sent (connection refused, once the process is gone).
func TestSIGTERMDrainsKeptAliveConnections(t *testing.T) {
	p := startProcess(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_DRAIN_PERIOD": "5s"})
	seedReader(p.server, "acme")
	if st, _ := p.get("", "/readyz"); st != 200 {
		t.Fatalf("/readyz before SIGTERM: %d", st)
	}

	const workers, total, signalAt = 8, 1600, 400
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var (
		next                   atomic.Int64
		signalled              = make(chan time.Time, 1)
		answered, refused, cut atomic.Int64
		afterSignal, withClose atomic.Int64
		mu                     sync.Mutex
		cuts                   []string
	)
	request := func(n int64) {
		path, body := "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "doc", "action": "read"}
		if n%4 == 0 {
			path, body = "/v1/entities/acme/users", map[string]any{"id": fmt.Sprintf("w%d", n)}
		}
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", p.base+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		sent := time.Now()
		res, err := client.Do(req)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused.Add(1)
				return
			}
			cut.Add(1)
			mu.Lock()
			cuts = append(cuts, fmt.Sprintf("request %d (%s): %v", n, path, err))
			mu.Unlock()
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 && res.StatusCode != 201 {
			t.Errorf("request %d (%s): %d", n, path, res.StatusCode)
		}
		answered.Add(1)
		select {
		case at := <-signalled:
			signalled <- at
			if sent.After(at.Add(100 * time.Millisecond)) { // sent once the signal surely arrived
				afterSignal.Add(1)
				if res.Close {
					withClose.Add(1)
				}
			}
		default:
		}
	}
	var ready time.Duration
	readyDone := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > total {
					return
				}
				select {
				case at := <-signalled:
					signalled <- at
					// The load stops well inside the drain period: a
					// request sent as the port closes meets a reset
					// however the server drains (its connection was in
					// the listen backlog).
					if time.Since(at) > 3*time.Second {
						return
					}
				default:
				}
				if n == signalAt {
					at := time.Now()
					if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Error(err)
					}
					signalled <- at
					go func() { // how soon /readyz says so
						defer close(readyDone)
						plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
						for time.Since(at) < 10*time.Second {
							res, err := plain.Get(p.base + "/readyz")
							if err == nil {
								res.Body.Close()
								if res.StatusCode == 503 {
									ready = time.Since(at)
									return
								}
							}
							time.Sleep(5 * time.Millisecond)
						}
					}()
				}
				request(n)
			}
		})
	}
	wg.Wait()
	<-readyDone
	at := <-signalled
	loadDone := time.Since(at)
	if err := p.stop(); err != nil { // waits for the process to end
		t.Fatalf("rolegate process: %v", err)
	}
	exited := time.Since(at)

	t.Logf("%d requests sent: %d answered, %d refused before being sent, %d cut; %d sent during the drain, %d of their answers with Connection: close",
		answered.Load()+refused.Load()+cut.Load(), answered.Load(), refused.Load(), cut.Load(), afterSignal.Load(), withClose.Load())
	t.Logf("/readyz 503 %v after SIGTERM; load done %v after it; process exited %v after it (drain period 5 s)", ready, loadDone, exited)
	if cut.Load() > 0 {
		t.Errorf("%d requests cut by the shutdown, such as %v", cut.Load(), cuts[0])
	}
	if ready == 0 {
		t.Error("/readyz did not answer 503 after SIGTERM")
	}
	if afterSignal.Load() > 0 && withClose.Load() != afterSignal.Load() {
		t.Errorf("%d answers during the drain, %d with Connection: close", afterSignal.Load(), withClose.Load())
	}
	if afterSignal.Load() == 0 {
		t.Error("no request was served during the drain")
	}
}
