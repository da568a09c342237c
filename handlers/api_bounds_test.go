package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

func (a *apiEnv) tagCount(t *testing.T) int {
	t.Helper()
	tags, err := a.st.FindTags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(tags)
}

func (a *apiEnv) customer(t *testing.T, id string) *store.Customer {
	t.Helper()
	c, err := a.st.FindCustomerByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func fieldMap(prefix string, n int) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out[fmt.Sprintf("%s%d", prefix, i)] = "值"
	}
	return out
}

// TestAPITagBounds: one PATCH cannot flood the tag catalogue or a customer,
// and only admins and managers add names to the catalogue.
func TestAPITagBounds(t *testing.T) {
	a := newAPIEnv(t)
	id := a.ids["c1"] // followed by a1, in mgrA's team; carries VIP
	path := "/api/v1/customers/" + id
	sales := mint(t, apiTok, "a1", apiNow.Add(time.Hour))
	mgr := mint(t, apiTok, "mgrA", apiNow.Add(time.Hour))
	if err := a.st.UpsertTags(context.Background(), []store.Tag{{ID: "et-vip", Name: "VIP"}, {ID: "et-edu", Name: "教育"}}); err != nil {
		t.Fatal(err)
	}

	t.Run("per request", func(t *testing.T) {
		before := a.tagCount(t)
		for _, body := range []map[string]any{
			{"add_tags": names("洪水", 20000)},
			{"add_tags": names("洪水", 51)},
			{"remove_tags": names("洪水", 51)},
		} {
			if status, resp := a.do(t, "PATCH", path, apiTok, body); status != 400 {
				t.Errorf("got %d %.200s, want 400", status, resp)
			}
		}
		if after := a.tagCount(t); after != before {
			t.Errorf("refused patches grew the catalogue from %d to %d tags", before, after)
		}
		if n := len(a.customer(t, id).Tags); n != 1 {
			t.Errorf("refused patches left the customer with %d tags", n)
		}
	})

	t.Run("a salesperson uses the catalogue and cannot grow it", func(t *testing.T) {
		before := a.tagCount(t)
		status, body := a.do(t, "PATCH", path, sales, map[string]any{"add_tags": []string{"教育", "销售自创"}})
		if status != 403 || !strings.Contains(string(body), "销售自创") || !strings.Contains(string(body), "标签") {
			t.Fatalf("a salesperson's new tag: got %d %.300s, want 403 naming it in Chinese", status, body)
		}
		if a.tagCount(t) != before || len(a.customer(t, id).Tags) != 1 {
			t.Fatal("a refused patch changed the catalogue or the customer")
		}
		if status, body := a.do(t, "PATCH", path, sales, map[string]any{"add_tags": []string{"教育"}}); status != 200 {
			t.Fatalf("a salesperson's catalogue tag: got %d %s", status, body)
		}
		if status, body := a.do(t, "PATCH", path, mgr, map[string]any{"add_tags": []string{"经理新建"}}); status != 200 {
			t.Fatalf("a manager's new tag: got %d %s", status, body)
		}
		if a.tagCount(t) != before+1 {
			t.Fatalf("the manager's new tag is not in the catalogue")
		}
	})

	t.Run("per customer", func(t *testing.T) {
		have := len(a.customer(t, id).Tags)
		room := 100 - have
		if status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"add_tags": names("甲", 50)}); status != 200 {
			t.Fatalf("50 tags: got %d %s", status, body)
		}
		if status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"add_tags": names("乙", room-50)}); status != 200 {
			t.Fatalf("up to 100 tags: got %d %s", status, body)
		}
		if n := len(a.customer(t, id).Tags); n != 100 {
			t.Fatalf("customer has %d tags, want 100", n)
		}
		if status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"add_tags": []string{"第101个"}}); status != 400 {
			t.Fatalf("the 101st tag: got %d %s, want 400", status, body)
		}
		// Swapping one tag for another keeps the count and is allowed.
		if status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"add_tags": []string{"换上"}, "remove_tags": []string{"甲0"}}); status != 200 {
			t.Fatalf("swap at the bound: got %d %s", status, body)
		}
	})
}

// TestAPIFieldBounds: custom fields are bounded per request, per customer
// and in size.
func TestAPIFieldBounds(t *testing.T) {
	a := newAPIEnv(t)
	id := a.ids["c2"]
	path := "/api/v1/customers/" + id
	for name, body := range map[string]map[string]any{
		"5000 fields":          {"fields": fieldMap("f", 5000)},
		"51 fields":            {"fields": fieldMap("f", 51)},
		"a 65-rune name":       {"fields": map[string]string{strings.Repeat("名", 65): "x"}},
		"a 2001-rune value":    {"fields": map[string]string{"k": strings.Repeat("长", 2001)}},
		"an empty name":        {"fields": map[string]string{" ": "x"}},
		"a field with 60 tags": {"fields": map[string]string{"k": "v"}, "add_tags": names("t", 60)},
	} {
		status, resp := a.do(t, "PATCH", path, apiTok, body)
		if status != 400 && status != 413 {
			t.Errorf("%s: got %d %.200s, want 400", name, status, resp)
		}
	}
	if n := len(a.customer(t, id).Fields); n != 0 {
		t.Fatalf("refused patches left %d fields", n)
	}
	if status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"fields": fieldMap("f", 50)}); status != 200 {
		t.Fatalf("50 fields: got %d %s", status, body)
	}
	if status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"fields": map[string]string{"第51个": "x"}}); status != 400 {
		t.Fatalf("the 51st field: got %d %s, want 400", status, body)
	}
	// Changing one, and deleting one to make room for another, stay allowed.
	status, body := a.do(t, "PATCH", path, apiTok, map[string]any{"fields": map[string]string{"f0": "新值", "f1": "", "新字段": strings.Repeat("长", 2000)}})
	if status != 200 {
		t.Fatalf("edit at the bound: got %d %s", status, body)
	}
	var c store.Customer
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Fields) != 50 || c.Fields["f0"] != "新值" || c.Fields["新字段"] == "" {
		t.Fatalf("fields after the edit: %d, f0=%q", len(c.Fields), c.Fields["f0"])
	}
}
