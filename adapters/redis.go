package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rolegate/rolegate/changes"
)

// Redis carries changes between instances over Redis pub/sub: every committed
// write is published on one channel as {entity_id, revision, at, origin}, and
// every instance subscribes. Pub/sub keeps nothing: a message published while
// an instance is disconnected is lost to it, which the revision sweep repairs.
// It implements changes.Notifier.
type Redis struct {
	client  *redis.Client
	channel string
	log     *slog.Logger
}

// DefaultRedisChannel is the channel changes travel on unless configured.
const DefaultRedisChannel = "rolegate:changes"

// changeMessage is a change on the wire.
type changeMessage struct {
	EntityID string `json:"entity_id"`
	Revision int64  `json:"revision"`
	At       int64  `json:"at"` // commit time, Unix nanoseconds
	Origin   string `json:"origin"`
}

// OpenRedis connects to the Redis a redis:// (or rediss://) URL names. It does
// not wait for Redis to answer: Rolegate starts and serves without it, and the
// subscription connects when Redis does.
func OpenRedis(rawURL, channel string, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %w", RedactURL(rawURL), err)
	}
	if channel == "" {
		channel = DefaultRedisChannel
	}
	if log == nil {
		log = slog.Default()
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	opt.PoolSize = 4
	opt.DisableIdentity = true // no CLIENT SETINFO: works with every Redis version
	// go-redis logs every failed dial on its own; Subscribe logs the state
	// changes that matter, so its lines go to debug.
	redis.SetLogger(redisLogger{log})
	return &Redis{client: redis.NewClient(opt), channel: channel, log: log}, nil
}

// redisLogger sends go-redis's own log lines to slog at debug level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Publish sends one change to every subscribed instance.
func (r *Redis) Publish(ctx context.Context, c changes.Change) error {
	b, err := json.Marshal(changeMessage{EntityID: c.EntityID, Revision: c.Revision, At: c.At.UnixNano(), Origin: c.Origin})
	if err != nil {
		return err
	}
	return r.client.Publish(ctx, r.channel, b).Err()
}

// receiveWait is how long the subscription waits for a message before it
// pings Redis; a ping unanswered for as long means the connection is dead.
const receiveWait = 5 * time.Second

// Subscribe calls fn with every change published on the channel until ctx
// ends, up(true) each time the subscription is (re)established and up(false)
// when it is lost. When Redis goes away it keeps trying to reconnect, backing
// off up to 2 s.
func (r *Redis) Subscribe(ctx context.Context, fn func(changes.Change), up func(bool)) error {
	var mu sync.Mutex
	ps := r.client.Subscribe(ctx, r.channel)
	stop := context.AfterFunc(ctx, func() {
		// A receive waits up to receiveWait whatever ctx says: end it now.
		mu.Lock()
		ps.Close()
		mu.Unlock()
	})
	defer func() {
		stop()
		mu.Lock()
		ps.Close() // closing twice is harmless
		mu.Unlock()
	}()
	pinged := false
	live := false // whether the subscription is up (to report changes only)
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.ReceiveTimeout(ctx, receiveWait)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Quiet channel: make sure the connection still works.
				pinged = true
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			if errors.As(err, &ne) && ne.Timeout() {
				// A ping went unanswered: start over on a new connection.
				mu.Lock()
				ps.Close()
				ps = r.client.Subscribe(ctx, r.channel)
				mu.Unlock()
			}
			pinged = false
			if live {
				r.log.Warn("change notifications: lost the Redis subscription; reconnecting (the revision sweep covers the gap)", "error", err)
				live = false
				up(false)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		pinged = false
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.log.Info("change notifications: subscribed to Redis", "channel", r.channel)
				live = true
				up(true)
			}
		case *redis.Message:
			var cm changeMessage
			if err := json.Unmarshal([]byte(m.Payload), &cm); err != nil || cm.EntityID == "" || cm.Revision < 1 {
				r.log.Warn("change notifications: ignored a malformed message", "channel", m.Channel)
				continue
			}
			fn(changes.Change{EntityID: cm.EntityID, Revision: cm.Revision, At: time.Unix(0, cm.At), Origin: cm.Origin})
		}
	}
}
