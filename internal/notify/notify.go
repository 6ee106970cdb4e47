// Package notify shows desktop notifications through the freedesktop
// notification service, org.freedesktop.Notifications on the session bus.
//
// A notification is a courtesy, never part of a decision: Send never
// blocks, messages go out one at a time from a goroutine of their own, and
// when the bus is absent, slow or full, they are dropped and the log says
// so once.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	busName    = "org.freedesktop.Notifications"
	objectPath = "/org/freedesktop/Notifications"
	method     = busName + ".Notify"
	appName    = "vigil"

	// callTimeout bounds connecting to the bus and each Notify call.
	callTimeout = 2 * time.Second
	// queueLen messages wait at most; more are dropped.
	queueLen = 16
)

// Notifier sends notifications to the session bus at one address.
type Notifier struct {
	address string
	log     *slog.Logger
	queue   chan message
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	mu     sync.Mutex
	failed bool // the last attempt failed, and the log said so
}

type message struct{ summary, body string }

// New starts a Notifier for the bus at address, the value of
// DBUS_SESSION_BUS_ADDRESS. It connects at the first message. Close stops
// it.
func New(address string, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{address: address, log: log, queue: make(chan message, queueLen),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go n.run()
	return n
}

// Notify queues a notification with a one-line summary and a body of
// plain text (escaped here for servers that read markup), or drops it if
// too many are waiting. It never blocks.
func (n *Notifier) Notify(summary, body string) {
	select {
	case n.queue <- message{summary, escapeMarkup(body)}:
	default:
		n.fail(fmt.Errorf("%d notifications waiting for the bus", queueLen))
	}
}

// Close stops sending; queued notifications are dropped.
func (n *Notifier) Close() {
	n.cancel()
	<-n.done
}

func (n *Notifier) run() {
	defer close(n.done)
	var conn *dbus.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var m message
		select {
		case <-n.ctx.Done():
			return
		case m = <-n.queue:
		}
		if conn == nil {
			c, err := n.connect()
			if err != nil {
				n.fail(err)
				continue
			}
			conn = c
		}
		if err := n.send(conn, m); err != nil {
			// The next message reconnects: the bus or the service
			// may have restarted.
			conn.Close()
			conn = nil
			n.fail(err)
			continue
		}
		n.mu.Lock()
		if n.failed {
			n.log.Info("desktop notifications work again")
			n.failed = false
		}
		n.mu.Unlock()
	}
}

// connect connects to the bus within callTimeout.
func (n *Notifier) connect() (*dbus.Conn, error) {
	// The connection closes when its context ends: that is also what
	// interrupts a bus that does not answer the handshake.
	ctx, cancel := context.WithCancel(n.ctx)
	timer := time.AfterFunc(callTimeout, cancel)
	conn, err := dbus.Connect(n.address, dbus.WithContext(ctx))
	if !timer.Stop() || err != nil {
		cancel()
		if err == nil {
			conn.Close()
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("connect to the session bus: %w", err)
	}
	return conn, nil
}

func (n *Notifier) send(conn *dbus.Conn, m message) error {
	ctx, cancel := context.WithTimeout(n.ctx, callTimeout)
	defer cancel()
	obj := conn.Object(busName, objectPath)
	// app_name, replaces_id, app_icon, summary, body, actions, hints,
	// expire_timeout (-1: the server's default).
	call := obj.CallWithContext(ctx, method, 0, appName, uint32(0), "", m.summary, m.body,
		[]string{}, map[string]dbus.Variant{}, int32(-1))
	if call.Err != nil {
		return fmt.Errorf("%s: %w", method, call.Err)
	}
	return nil
}

// fail logs the first failure of a run of failures.
func (n *Notifier) fail(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failed {
		return
	}
	n.failed = true
	n.log.Warn("desktop notifications dropped until the bus answers again", "err", err)
}

// escapeMarkup escapes what a server that supports body markup would read
// as markup (the specification's subset of HTML).
func escapeMarkup(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
