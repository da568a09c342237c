package wecomtest_test

import (
	"net/url"
	"testing"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestSimulatorReceivedCountsHiddenRepeats checks that Received keeps the
// repeats the duplicate check hides from Sent, and the sends the per member
// limit drops, but not calls rejected before delivery.
func TestSimulatorReceivedCountsHiddenRepeats(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{MemberPerMinute: 2})
	defer sim.Close()
	sim.AddStaff(wecomtest.Staff{UserID: "lisi"})
	tok := wecomToken(t, sim.URL, wecomtest.SimAppSecret)
	send := func(token, body string) int {
		_, a := call(t, sim.URL, "POST", "/cgi-bin/message/send", url.Values{"access_token": {token}}, body)
		return a.ErrCode
	}
	once := `{"touser":"lisi","msgtype":"text","agentid":"1000002","text":{"content":"提醒"},"enable_duplicate_check":1,"duplicate_check_interval":600}`
	for range 2 {
		if code := send(tok, once); code != 0 {
			t.Fatalf("send: errcode %d", code)
		}
	}
	if code := send("bad-token", once); code == 0 {
		t.Fatal("a bad token was accepted")
	}
	for _, text := range []string{"第二条", "第三条"} {
		send(tok, `{"touser":"lisi","msgtype":"text","agentid":"1000002","text":{"content":"`+text+`"}}`)
	}
	if got := len(sim.Sent()); got != 2 {
		t.Errorf("Sent has %d messages, want 2 (the repeat hidden, the third over the limit)", got)
	}
	if got := len(sim.Dropped()); got != 1 {
		t.Errorf("Dropped has %d messages, want 1", got)
	}
	rec := sim.Received()
	if len(rec) != 4 || sim.ReceivedCount() != 4 {
		t.Fatalf("Received has %d messages (count %d), want 4", len(rec), sim.ReceivedCount())
	}
	if rec[0].Content != "提醒" || rec[1].Content != "提醒" || rec[3].Content != "第三条" {
		t.Errorf("Received out of order: %q %q %q %q", rec[0].Content, rec[1].Content, rec[2].Content, rec[3].Content)
	}
}
