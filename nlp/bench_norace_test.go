//go:build !race

package nlp

import (
	"testing"
	"time"
)

// TestOfflineConversation1000Fast holds the offline analysis of a 1,000-message
// conversation under one second (the race detector's slowdown excluded).
func TestOfflineConversation1000Fast(t *testing.T) {
	msgs := conversation1000()
	if _, err := loadSentiment(); err != nil {
		t.Fatal(err)
	}
	analyzeOffline(msgs) // warm up
	start := time.Now()
	analyzeOffline(msgs)
	d := time.Since(start)
	t.Logf("offline analysis of 1,000 messages: %v", d)
	if d >= time.Second {
		t.Errorf("took %v, want < 1s", d)
	}
}
