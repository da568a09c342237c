package handlers_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestSentimentAndWaitingFilters: GET /api/v1/customers (and the export)
// filter by the latest analysis's label and by waiting for an answer on
// the server, inside the caller's scope, and refuse values they do not
// know.
func TestSentimentAndWaitingFilters(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	// Every fixture customer wrote last; a reply to c1 ends its wait, c2 is
	// analysed negative, c4 positive.
	if _, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: ext("wm-c1"), StaffAt: apiNow.Add(-time.Hour), Now: apiNow}); err != nil {
		t.Fatal(err)
	}
	for key, label := range map[string]string{"c2": "negative", "c4": "positive"} {
		if _, err := a.st.UpdateCustomer(ctx, a.ids[key], store.CustomerUpdate{Insight: &store.Insight{SentimentLabel: label, AnalyzedAt: apiNow}, Now: apiNow}); err != nil {
			t.Fatal(err)
		}
	}
	all := a.listAll(t, apiTok, url.Values{})
	var waiting []string // wrote at some time, and not c1
	for _, fc := range fixtureCustomers {
		if !fc.last.IsZero() && fc.key != "c1" {
			waiting = append(waiting, fc.key)
		}
	}
	exp := apiNow.Add(time.Hour)
	cases := []struct {
		name, token string
		q           url.Values
		want        []string
	}{
		{"admin waiting", apiTok, url.Values{"waiting": {"true"}}, waiting},
		{"admin not filtered", apiTok, url.Values{"waiting": {"false"}}, all},
		{"admin negative", apiTok, url.Values{"sentiment": {"negative"}}, []string{"c2"}},
		{"manager A negative and waiting", mint(t, apiTok, "mgrA", exp), url.Values{"sentiment": {"negative"}, "waiting": {"true"}}, []string{"c2"}},
		{"manager B negative", mint(t, apiTok, "mgrB", exp), url.Values{"sentiment": {"negative"}}, nil},
		{"sales A1 waiting", mint(t, apiTok, "a1", exp), url.Values{"waiting": {"true"}}, nil}, // c1 answered, c4 never wrote
		{"sales A2 waiting", mint(t, apiTok, "a2", exp), url.Values{"waiting": {"true"}}, []string{"c2", "c8"}},
		{"sales A1 positive", mint(t, apiTok, "a1", exp), url.Values{"sentiment": {"positive"}}, []string{"c4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := a.listAll(t, tc.token, tc.q)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
		})
	}
	if keys := a.exported(t, apiTok, "format=csv&sentiment=negative"); !slices.Equal(keys, []string{"c2"}) {
		t.Errorf("exported %v, want [c2]", keys)
	}
	for _, q := range []string{"sentiment=angry", "waiting=yes"} {
		if status, body := a.do(t, "GET", "/api/v1/customers?"+q, apiTok, nil); status != 400 {
			t.Errorf("%s: %d %s, want 400", q, status, body)
		}
	}
}
