package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
)

type quickReplyAnswer struct {
	ID       string `json:"id"`
	Group    string `json:"group"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	Rendered string `json:"rendered"`
	Uses     int64  `json:"uses"`
}

// TestQuickReplies: managers keep the library through audited actions,
// salespeople search it, render it for a customer they follow (and for no
// other) and count uses.
func TestQuickReplies(t *testing.T) {
	a := newAPIEnv(t)
	exp := apiNow.Add(time.Hour)
	mgr, sales, admin := mint(t, apiTok, "mgrA", exp), mint(t, apiTok, "a1", exp), apiTok
	body := map[string]any{"group": "开场白", "title": "首次问候", "text": "#客户昵称#您好，我是#员工姓名#，有问题随时找我。"}

	if st, b := a.do(t, "POST", "/api/v1/quick-replies", sales, body); st != http.StatusForbidden {
		t.Fatalf("sales create = %d %s, want 403", st, b)
	}
	if st, b := a.do(t, "POST", "/api/v1/quick-replies", mgr, map[string]any{"text": "  "}); st != http.StatusBadRequest {
		t.Fatalf("blank text = %d %s, want 400", st, b)
	}
	st, b := a.do(t, "POST", "/api/v1/quick-replies", mgr, body)
	if st != http.StatusCreated {
		t.Fatalf("create = %d %s", st, b)
	}
	var q quickReplyAnswer
	json.Unmarshal(b, &q)
	if q.ID == "" || q.Group != "开场白" || q.Text != body["text"] {
		t.Fatalf("created %+v", q)
	}
	if st, b := a.do(t, "POST", "/api/v1/quick-replies", admin, map[string]any{"group": "报价", "title": "优惠", "text": "本月下单可享九折优惠。"}); st != http.StatusCreated {
		t.Fatalf("admin create = %d %s", st, b)
	}

	// A retry with the same Idempotency-Key creates nothing new.
	retry := func() (int, quickReplyAnswer) {
		raw, _ := json.Marshal(map[string]any{"text": "重试的话术"})
		req, _ := http.NewRequest("POST", a.base+"/api/v1/quick-replies", strings.NewReader(string(raw)))
		req.Header.Set("Authorization", "Bearer "+mgr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k-1")
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out quickReplyAnswer
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	s1, r1 := retry()
	s2, r2 := retry()
	if s1 != 201 || s2 != 200 || r1.ID != r2.ID {
		t.Errorf("retried create: %d %s then %d %s, want 201 then 200 with the same id", s1, r1.ID, s2, r2.ID)
	}

	search := func(token, q, customer string) (int, []quickReplyAnswer) {
		path := "/api/v1/quick-replies?q=" + q
		if customer != "" {
			path += "&customer_id=" + customer
		}
		st, b := a.do(t, "GET", path, token, nil)
		var out struct {
			Items []quickReplyAnswer `json:"items"`
		}
		json.Unmarshal(b, &out)
		return st, out.Items
	}
	st, items := search(sales, "", "")
	if st != 200 || len(items) != 3 {
		t.Fatalf("sales lists %d %d items, want 3", st, len(items))
	}
	st, items = search(sales, "问候", a.ids["c1"])
	if st != 200 || len(items) != 1 || items[0].Rendered != "张三您好，我是销售A1，有问题随时找我。" {
		t.Fatalf("search rendered for c1: %d %+v", st, items)
	}
	if st, _ := search(sales, "问候", a.ids["c3"]); st != http.StatusNotFound {
		t.Errorf("rendering for a customer a1 does not follow = %d, want 404", st)
	}
	if _, items := search(sales, "九折", ""); len(items) != 1 || items[0].Title != "优惠" {
		t.Errorf("search 九折 = %+v", items)
	}

	for range 2 {
		st, b = a.do(t, "POST", "/api/v1/quick-replies/"+q.ID+"/used", sales, map[string]any{"customer_id": a.ids["c4"]})
		if st != 200 {
			t.Fatalf("used = %d %s", st, b)
		}
	}
	var used quickReplyAnswer
	json.Unmarshal(b, &used)
	if used.Uses != 2 || strings.Contains(used.Rendered, "#") || !strings.Contains(used.Rendered, "销售A1") {
		t.Errorf("after two uses: %+v", used)
	}

	if st, b := a.do(t, "PATCH", "/api/v1/quick-replies/"+q.ID, sales, map[string]any{"title": "x"}); st != http.StatusForbidden {
		t.Errorf("sales patch = %d %s, want 403", st, b)
	}
	st, b = a.do(t, "PATCH", "/api/v1/quick-replies/"+q.ID, mgr, map[string]any{"title": "问候（新）"})
	var patched quickReplyAnswer
	json.Unmarshal(b, &patched)
	if st != 200 || patched.Title != "问候（新）" || patched.Text != q.Text || patched.Uses != 2 {
		t.Errorf("patch = %d %+v", st, patched)
	}
	if st, _ := a.do(t, "DELETE", "/api/v1/quick-replies/"+q.ID, sales, nil); st != http.StatusForbidden {
		t.Errorf("sales delete = %d, want 403", st)
	}
	if st, _ := a.do(t, "DELETE", "/api/v1/quick-replies/"+q.ID, mgr, nil); st != http.StatusNoContent {
		t.Errorf("delete = %d", st)
	}
	if st, _ := a.do(t, "POST", "/api/v1/quick-replies/"+q.ID+"/used", sales, nil); st != http.StatusNotFound {
		t.Errorf("use of a deleted reply = %d, want 404", st)
	}

	// Every change is in the audit, with its door.
	audit, err := a.st.FindAudit(context.Background(), q.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Actor+" "+e.Action+" "+strings.Fields(e.Detail)[0])
	}
	want := []string{"mgrA " + bot.AuditQuickReplyDelete + " source=api", "mgrA " + bot.AuditQuickReplyUpdate + " source=api", "mgrA " + bot.AuditQuickReplyCreate + " source=api"}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Errorf("audit of %s = %v, want %v", q.ID, actions, want)
	}
}
