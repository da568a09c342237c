package mongotest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/event"
)

// Commands counts the commands a client sends, by command name, so tests
// can pin what an operation costs on the wire. Pass Monitor() to
// mongo.WithMonitor.
type Commands struct {
	mu     sync.Mutex
	counts map[string]int
	byColl map[string]int // "find customers"
}

// NewCommands returns an empty counter.
func NewCommands() *Commands { return &Commands{counts: map[string]int{}, byColl: map[string]int{}} }

// Monitor returns the driver monitor that feeds the counter. The handshake
// and the driver's own heartbeats are not commands an operation sends, and
// are left out.
func (c *Commands) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		switch e.CommandName {
		case "hello", "isMaster", "ismaster", "endSessions", "saslStart", "saslContinue", "buildInfo", "getParameter":
			return
		}
		// A command's first element names its collection.
		coll, _ := e.Command.Index(0).Value().StringValueOK()
		c.mu.Lock()
		c.counts[e.CommandName]++
		c.byColl[e.CommandName+" "+coll]++
		c.mu.Unlock()
	}}
}

// Reset zeroes the counts.
func (c *Commands) Reset() {
	c.mu.Lock()
	clear(c.counts)
	clear(c.byColl)
	c.mu.Unlock()
}

// Counts returns a copy of the counts since the last Reset.
func (c *Commands) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// ByCollection returns a copy of the counts since the last Reset by command
// and collection, "find customers".
func (c *Commands) ByCollection() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byColl)
}

// Total returns how many commands were sent since the last Reset.
func (c *Commands) Total() int {
	n := 0
	for _, v := range c.Counts() {
		n += v
	}
	return n
}

// String lists the counts by name, "find=3 insert=1".
func (c *Commands) String() string { return Format(c.Counts()) }

// Format lists counts by command name in name order.
func Format(counts map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", strings.ReplaceAll(k, " ", ":"), counts[k])
	}
	return b.String()
}
