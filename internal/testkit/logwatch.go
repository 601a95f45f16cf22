package testkit

import (
	"bufio"
	"encoding/json"
	"io"
)

// WatchLog reads a rolegate process's JSON log from r line by line, giving
// each line to keep (the caller's copy of the output), and sends the address
// of its "listening" record on the returned channel. Once r ends it calls
// after (nil for nothing) and closes the channel: a closed channel with no
// address means the program stopped before listening.
func WatchLog(r io.Reader, keep func(line []byte), after func()) <-chan string {
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			keep(line)
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
		if after != nil {
			after()
		}
		close(addr)
	}()
	return addr
}
