package handlers_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

type cardSink struct{ sink }

func (*cardSink) SendTemplateCard(context.Context, string, bot.Card) error { return nil }

// TestClaimSameRecordThroughBotAndAPI: a claim by the card's 接待 button
// and a claim through POST /customers/{id}/claim are one action of the
// core: the same timeline entry and audit entry but for the door, the
// first claim wins through either door, and a churned customer is claimable
// only by the former owner's team.
func TestClaimSameRecordThroughBotAndAPI(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	exp := apiNow.Add(time.Hour)
	a1, a2, b1 := mint(t, apiTok, "a1", exp), mint(t, apiTok, "a2", exp), mint(t, apiTok, "b1", exp)
	unassigned := func(openid string, follow *store.Follow) string {
		c, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: openid},
			Name: "客户" + openid, Follow: follow, CustomerAt: apiNow.Add(-time.Minute), Now: apiNow})
		if err != nil {
			t.Fatal(err)
		}
		if follow != nil {
			if _, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: openid},
				Follow: &store.Follow{StaffID: follow.StaffID, Deleted: true, AddedAt: follow.AddedAt}, Now: apiNow}); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	viaBot, viaAPI := unassigned("oc-bot", nil), unassigned("oc-api", nil)

	in := bot.NewInbox(a.st, &cardSink{}, nil, bot.StaffDirectory{Staff: a.st}, bot.InboxOptions{Now: func() time.Time { return apiNow }})
	press := &store.Event{ID: 9100, DedupKey: "card:claim-1", Channel: store.ChannelWeCom, Kind: "event.template_card_event",
		StaffID: "a1", FromID: "a1", Attrs: map[string]string{"EventKey": "claim:" + viaBot}, OccurredAt: apiNow, ReceivedAt: apiNow}
	if err := in.Process(ctx, press); err != nil {
		t.Fatal(err)
	}
	status, body := a.do(t, "POST", "/api/v1/customers/"+viaAPI+"/claim", a1, nil)
	if status != 200 || !strings.Contains(string(body), `"won":true`) {
		t.Fatalf("api claim: %d %s", status, body)
	}
	for _, id := range []string{viaBot, viaAPI} {
		c, err := a.st.FindCustomerByID(ctx, id)
		if err != nil || len(c.Follows) != 1 || c.Follows[0].StaffID != "a1" || c.Follows[0].State != bot.FollowStateInbox {
			t.Fatalf("customer %s after the claim: %+v %v", id, c, err)
		}
	}
	be, ba := newest(t, a, viaBot, store.EntryEvent, bot.AuditClaim)
	ae, aa := newest(t, a, viaAPI, store.EntryEvent, bot.AuditClaim)
	shape := func(e *store.TimelineEntry) string {
		attrs := maps.Clone(e.Attrs)
		delete(attrs, "source")
		delete(attrs, "via") // the door's own name for itself
		return e.Kind + "|" + e.StaffID + "|" + e.Text + "|" + strings.TrimSpace(strings.ReplaceAll(fmtAttrs(attrs), "\n", ""))
	}
	if be.Attrs["source"] != "bot" || ae.Attrs["source"] != "api" || be.Attrs["change"] != "claim" || be.Attrs["by"] != "a1" {
		t.Errorf("claim entries: bot %v, api %v", be.Attrs, ae.Attrs)
	}
	if shape(be) != shape(ae) {
		t.Errorf("claim entries differ:\n bot %s\n api %s", shape(be), shape(ae))
	}
	viaNoise := strings.NewReplacer("via=card", "", "via=api", "")
	if !strings.Contains(ba.Detail, "source=bot") || !strings.Contains(aa.Detail, "source=api") ||
		auditShape(&store.AuditEntry{Actor: ba.Actor, Action: ba.Action, Detail: viaNoise.Replace(ba.Detail)}) !=
			auditShape(&store.AuditEntry{Actor: aa.Actor, Action: aa.Action, Detail: viaNoise.Replace(aa.Detail)}) {
		t.Errorf("claim audits differ: bot %+v, api %+v", ba, aa)
	}

	// First claim wins, through either door: a2 is told a1 has them.
	if status, body := a.do(t, "POST", "/api/v1/customers/"+viaBot+"/claim", a2, nil); status != 409 || !strings.Contains(string(body), `"winner":"a1"`) {
		t.Errorf("a2's later claim: %d %s, want 409 naming a1", status, body)
	}
	// The admin token is no staff member and cannot own a customer.
	if status, _ := a.do(t, "POST", "/api/v1/customers/"+unassigned("oc-admin", nil)+"/claim", apiTok, nil); status != 403 {
		t.Errorf("admin token claim: %d, want 403", status)
	}
	// A never-owned customer who never wrote in is in no pool: an ID
	// guessed through the API finds nothing.
	imported, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "oc-imported"},
		Name: "导入客户", Now: apiNow})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := a.do(t, "POST", "/api/v1/customers/"+imported.ID+"/claim", b1, nil); status != 404 {
		t.Errorf("b1 claims a customer who never wrote in: %d %s, want 404", status, body)
	}
	// A churned customer of a1 goes back to team A: b1 cannot even see it
	// exists, a2 may claim it.
	churned := unassigned("oc-churned", &store.Follow{StaffID: "a1", AddedAt: apiNow.Add(-time.Hour)})
	if status, body := a.do(t, "POST", "/api/v1/customers/"+churned+"/claim", b1, nil); status != 404 {
		t.Errorf("b1 claims team A's churned customer: %d %s, want 404", status, body)
	}
	status, body = a.do(t, "POST", "/api/v1/customers/"+churned+"/claim", a2, nil)
	var res struct {
		Won      bool            `json:"won"`
		Customer *store.Customer `json:"customer"`
	}
	if status != 200 || json.Unmarshal(body, &res) != nil || !res.Won || res.Customer.ID != churned {
		t.Errorf("a2 claims team A's churned customer: %d %s", status, body)
	}
}

func fmtAttrs(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}
