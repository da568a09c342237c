package handlers_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
)

// TestSuggestRepliesEndpoint: the follower gets three replies with the
// FAQ's answer to the customer's question; a salesperson who does not
// follow the customer gets 404, like for any other customer read.
func TestSuggestRepliesEndpoint(t *testing.T) {
	st := openAuthStore(t)
	clock := &authClock{t: authT0.Add(time.Hour)}
	b, err := os.ReadFile("../docs/faq.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := bot.ParseFAQ(b)
	if err != nil {
		t.Fatal(err)
	}
	id := customerID(t, st, "wm1")
	if _, err := st.AppendTimeline(context.Background(), &store.TimelineEntry{CustomerID: id, SourceKey: "r1", Kind: store.EntryMessage,
		Channel: store.ChannelWeCom, Direction: store.DirectionIn, Text: "你们能开增值税专用发票吗？", At: authT0}); err != nil {
		t.Fatal(err)
	}
	base := startAuthServer(t, st, clock, apiTok, func(o *handlers.Options) {
		o.Replies = bot.NewReplySuggester(o.Core, bot.StaticFAQ{KB: kb}, nil, bot.SuggestOptions{})
	})
	c := browser(t)
	tok := func(staff string) string {
		s, err := handlers.MintStaffToken(apiTok, staff, clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	a := do(t, c, "POST", base+"/api/v1/customers/"+id+"/replies", "", "Authorization", tok("s1"))
	if a.status != 200 {
		t.Fatalf("follower: %d %s", a.status, a.body)
	}
	var out struct {
		Replies []bot.Suggestion `json:"replies"`
	}
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Replies) != 3 || out.Replies[0].Source != "faq:invoice" || !strings.Contains(out.Replies[0].Text, "专用发票") {
		t.Errorf("replies %+v", out.Replies)
	}
	if a := do(t, c, "POST", base+"/api/v1/customers/"+id+"/replies", "", "Authorization", tok("s2")); a.status != 404 {
		t.Errorf("a salesperson who does not follow: %d %s, want 404", a.status, a.body)
	}
	if a := do(t, c, "POST", base+"/api/v1/customers/"+id+"/replies", "", "Authorization", "Bearer "+apiTok); a.status != 200 {
		t.Errorf("admin token: %d", a.status)
	}
}
