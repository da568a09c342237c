package wecom_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// handoverClock is the simulator's settable clock.
type handoverClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *handoverClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *handoverClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newHandoverSim(t *testing.T) (*wecomtest.Simulator, *wecom.APIClient, *handoverClock) {
	t.Helper()
	clk := &handoverClock{t: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)}
	sim := newSim(t, wecomtest.SimConfig{Now: clk.now}, 4) // u00..u03
	return sim, newClient(t, testConfig(sim), nil), clk
}

func addContact(sim *wecomtest.Simulator, ext string, follows ...wecomtest.Follow) {
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: "客户" + ext, Follow: follows})
}

func codes(rs []wecom.HandoverCustomerResult) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[r.ExternalUserID] = r.ErrCode
	}
	return out
}

func TestHandoverOnJobCompletes(t *testing.T) {
	sim, c, clk := newHandoverSim(t)
	ctx := t.Context()
	addContact(sim, "wmA", wecomtest.Follow{UserID: "u00", Remark: "王总", Description: "老客户", TagIDs: []string{"t1"}})
	addContact(sim, "wmB", wecomtest.Follow{UserID: "u01"})
	started := clk.now()

	res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u02",
		ExternalUserIDs: []string{"wmA", "wmB", "wmNobody"}, SuccessMsg: "您好，后续由我的同事为您服务"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"wmA": 0, "wmB": wecom.HandoverErrNotFollower, "wmNobody": wecom.HandoverErrInvalidContact}
	if got := codes(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("per-customer codes %v, want %v", got, want)
	}
	pending := sim.PendingHandovers()
	if len(pending) != 1 || pending[0].SuccessMsg != "您好，后续由我的同事为您服务" || pending[0].Resigned {
		t.Fatalf("pending %+v", pending)
	}

	// Starting it again while it waits is refused per customer.
	res, err = c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u03", ExternalUserIDs: []string{"wmA"}})
	if err != nil || codes(res)["wmA"] != wecom.HandoverErrInProgress {
		t.Fatalf("second start: %v %v", res, err)
	}

	q := wecom.HandoverQuery{HandoverUserID: "u00", TakeoverUserID: "u02"}
	rec, err := c.FindHandover(ctx, q, "wmA")
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || rec.Status != wecom.HandoverWaiting || rec.TakeoverTime != started.Add(24*time.Hour).Unix() {
		t.Fatalf("waiting record %+v", rec)
	}
	// The resigned API keeps its own records.
	if rec, err := c.FindHandover(ctx, wecom.HandoverQuery{HandoverUserID: "u00", TakeoverUserID: "u02", Resigned: true}, "wmA"); err != nil || rec != nil {
		t.Fatalf("resigned lookup of an on-job handover: %+v %v", rec, err)
	}

	// Nothing is due before 24 hours.
	clk.add(23 * time.Hour)
	if got := sim.SettleDueHandovers(); len(got) != 0 {
		t.Fatalf("settled early: %+v", got)
	}
	clk.add(time.Hour)
	settled := sim.SettleDueHandovers()
	if len(settled) != 1 {
		t.Fatalf("settled %d, want 1", len(settled))
	}
	var kinds []string
	for _, m := range settled[0].Callbacks {
		kinds = append(kinds, m.Field("ChangeType")+"/"+m.Field("UserID")+"/"+m.Field("Source"))
	}
	if got := strings.Join(kinds, " "); got != "del_external_contact/u00/DELETE_BY_TRANSFER add_external_contact/u02/" {
		t.Errorf("callbacks %s", got)
	}
	ct, _ := sim.ExternalContact("wmA")
	if len(ct.Follow) != 1 || ct.Follow[0].UserID != "u02" || ct.Follow[0].Remark != "王总" ||
		ct.Follow[0].TagIDs[0] != "t1" || !ct.Follow[0].CreateTime.Equal(clk.now()) {
		t.Errorf("follows after takeover %+v", ct.Follow)
	}
	rec, err = c.FindHandover(ctx, q, "wmA")
	if err != nil || rec.Status != wecom.HandoverDone || rec.TakeoverTime != clk.now().Unix() {
		t.Fatalf("done record %+v %v", rec, err)
	}
	// WeCom's own view of the contact agrees.
	info, err := c.GetExternalContact(ctx, "wmA")
	if err != nil || len(info.FollowUsers) != 1 || info.FollowUsers[0].UserID != "u02" {
		t.Fatalf("contact after takeover %+v %v", info, err)
	}
}

func TestHandoverResignedRefusedAndLimits(t *testing.T) {
	sim, c, clk := newHandoverSim(t)
	ctx := t.Context()
	addContact(sim, "wmC", wecomtest.Follow{UserID: "u01"})

	// A member who has not left is handed over on-job, not as resigned.
	res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u01", TakeoverUserID: "u02", ExternalUserIDs: []string{"wmC"}, Resigned: true})
	if err != nil || codes(res)["wmC"] != wecom.HandoverErrNotResigned {
		t.Fatalf("resigned handover of a current member: %v %v", res, err)
	}
	sim.ResignStaff("u01")
	_, err = c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u01", TakeoverUserID: "u02", ExternalUserIDs: []string{"wmC"}})
	if wecom.APIErrorCode(err) != 60111 {
		t.Fatalf("on-job handover from a member who left: %v", err)
	}
	_, err = c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u02", TakeoverUserID: "u01", ExternalUserIDs: []string{"wmC"}})
	if wecom.APIErrorCode(err) != 60111 {
		t.Fatalf("handover to a member who left: %v", err)
	}
	res, err = c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u01", TakeoverUserID: "u02", ExternalUserIDs: []string{"wmC"}, Resigned: true})
	if err != nil || codes(res)["wmC"] != 0 {
		t.Fatalf("resigned handover: %v %v", res, err)
	}
	clk.add(2 * time.Hour)
	st, err := sim.SettleHandover("wmC", wecom.HandoverRefused)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Callbacks) != 1 || st.Callbacks[0].Field("ChangeType") != "transfer_fail" ||
		st.Callbacks[0].Field("UserID") != "u02" || st.Callbacks[0].Field("FailReason") != "customer_refused" {
		t.Errorf("refusal callbacks %+v", st.Callbacks)
	}
	rec, err := c.FindHandover(ctx, wecom.HandoverQuery{HandoverUserID: "u01", TakeoverUserID: "u02", Resigned: true}, "wmC")
	if err != nil || rec.Status != wecom.HandoverRefused || rec.TakeoverTime != 0 {
		t.Fatalf("refused record %+v %v", rec, err)
	}
	if _, err := sim.SettleHandover("wmC", wecom.HandoverDone); err == nil {
		t.Error("a settled handover settled again")
	}

	// Limit: transfer_fail with customer_limit_exceed.
	addContact(sim, "wmD", wecomtest.Follow{UserID: "u00"})
	if res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u03", ExternalUserIDs: []string{"wmD"}}); err != nil || codes(res)["wmD"] != 0 {
		t.Fatalf("start: %v %v", res, err)
	}
	st, err = sim.SettleHandover("wmD", wecom.HandoverLimit)
	if err != nil || st.Callbacks[0].Field("FailReason") != "customer_limit_exceed" {
		t.Fatalf("limit: %+v %v", st, err)
	}
	// Twice in 90 days, then 40128: the refused and the limited start count.
	if res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u03", ExternalUserIDs: []string{"wmD"}}); err != nil || codes(res)["wmD"] != 0 {
		t.Fatalf("second start: %v %v", res, err)
	}
	if _, err := sim.SettleHandover("wmD", wecom.HandoverRefused); err != nil {
		t.Fatal(err)
	}
	if res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u03", ExternalUserIDs: []string{"wmD"}}); err != nil || codes(res)["wmD"] != wecom.HandoverErrTooFrequent {
		t.Fatalf("third start within 90 days: %v %v", res, err)
	}
	if res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u00", ExternalUserIDs: []string{"wmD"}}); err != nil || codes(res)["wmD"] != wecom.HandoverErrSameMember {
		t.Fatalf("to oneself: %v %v", res, err)
	}
}

func TestHandoverRequestValidation(t *testing.T) {
	sim, c, _ := newHandoverSim(t)
	ctx := t.Context()
	many := make([]string, wecom.MaxHandoverCustomers+1)
	for i := range many {
		many[i] = fmt.Sprintf("wm%03d", i)
	}
	for _, tc := range []struct {
		name string
		req  wecom.HandoverRequest
	}{
		{"no takeover", wecom.HandoverRequest{HandoverUserID: "u00", ExternalUserIDs: []string{"wm1"}}},
		{"no customer", wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u01"}},
		{"too many customers", wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u01", ExternalUserIDs: many}},
		{"message too long", wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u01", ExternalUserIDs: []string{"wm1"},
			SuccessMsg: strings.Repeat("好", wecom.MaxHandoverMsgRunes+1)}},
		{"message on a resigned handover", wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u01", ExternalUserIDs: []string{"wm1"},
			SuccessMsg: "你好", Resigned: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.HandoverCustomers(ctx, tc.req); err == nil || wecom.APIErrorCode(err) != 0 {
				t.Fatalf("err = %v, want a local error", err)
			}
		})
	}
	if n := sim.Calls("externalcontact/transfer_customer") + sim.Calls("externalcontact/resigned/transfer_customer"); n != 0 {
		t.Errorf("%d invalid requests reached WeCom", n)
	}
}

// TestHandoverResultPages: more than one page of records (1,000 each) is
// walked to the end.
func TestHandoverResultPages(t *testing.T) {
	sim, c, _ := newHandoverSim(t)
	ctx := t.Context()
	const n = 1050
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("wm%04d", i)
		addContact(sim, ids[i], wecomtest.Follow{UserID: "u00"})
	}
	for i := 0; i < n; i += wecom.MaxHandoverCustomers {
		res, err := c.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: "u00", TakeoverUserID: "u01", ExternalUserIDs: ids[i:min(i+wecom.MaxHandoverCustomers, n)]})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.ErrCode != 0 {
				t.Fatalf("%s: %d", r.ExternalUserID, r.ErrCode)
			}
		}
	}
	q := wecom.HandoverQuery{HandoverUserID: "u00", TakeoverUserID: "u01"}
	first, err := c.HandoverResult(ctx, q)
	if err != nil || len(first.Customers) != 1000 || first.NextCursor == "" {
		t.Fatalf("first page: %d records, cursor %q, %v", len(first.Customers), first.NextCursor, err)
	}
	rec, err := c.FindHandover(ctx, q, ids[n-1])
	if err != nil || rec == nil || rec.Status != wecom.HandoverWaiting {
		t.Fatalf("last customer on page two: %+v %v", rec, err)
	}
}
