package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestTwoServersOnMongoKill9DuringCampaign is issue #16's acceptance case
// for a cluster: two `scrm serve` processes on one MongoDB-wire store
// (FerretDB) and one Redis carry out a campaign over the tagged customers
// of eight salespeople, one of whom opted out. add_msg_template is slowed
// so creation takes seconds; the process holding the campaign's lease is
// killed with SIGKILL while one of its calls is at WeCom, and restarted,
// as a supervisor would. The call it died in still creates its task at
// WeCom, which the dead process never records. The same request posted
// again with its Idempotency-Key to the other process creates nothing.
// When the lease has lapsed, another process finishes the campaign: WeCom
// must then hold exactly one add_msg_template per (salesperson, chunk),
// each listing exactly that salesperson's tagged customers but the
// opted-out one, and the campaign's report, after the salespeople send,
// must match the simulator's records.
func TestTwoServersOnMongoKill9DuringCampaign(t *testing.T) {
	const (
		salespeople = 8
		each        = 5 // customers per salesperson, four of them tagged VIP
		// Short, so the dead process's campaign is taken over within the
		// test's time (production keeps the 2m default).
		lease = 10 * time.Second
		// Slow enough that the kill lands during a call.
		latency = 600 * time.Millisecond
		killAt  = 3 // the kill comes while this call is at WeCom
	)
	ctx := context.Background()
	uri, dbName := mongotest.StartProcess(t), "scrm_cp9"
	if os.Getenv(mongotest.EnvURI) != "" {
		dbName = mongotest.DBName(t)
	}
	db, err := mongo.Open(ctx, uri, dbName)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	want := map[string][]string{} // salesperson → the customers the campaign must reach
	optedOut := ""
	seedAt := time.Now().UTC()
	for i := range salespeople {
		sales := salesID(i)
		sim.AddStaff(wecomtest.Staff{UserID: sales, Name: fmt.Sprintf("销售%02d", i)})
		for k := range each {
			ext := fmt.Sprintf("wmCp%02d%02d", i, k)
			sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: "客户" + ext, Follow: []wecomtest.Follow{{UserID: sales, CreateTime: seedAt}}})
			u := store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext}, Name: "客户" + ext,
				Follow: &store.Follow{StaffID: sales, AddedAt: seedAt}, Now: seedAt}
			if k < 4 {
				u.AddTags = []string{"VIP"}
			}
			cu, err := db.UpsertCustomer(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case k == 4:
			case i == 2 && k == 0:
				optedOut = cu.ID
				if _, err := db.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{Fields: map[string]string{store.FieldOptOut: "true"}, Now: seedAt}); err != nil {
					t.Fatal(err)
				}
			default:
				want[sales] = append(want[sales], ext)
			}
		}
	}
	sim.SetLatency("externalcontact/add_msg_template", latency)

	g := newServerGroup(t, clusterEnv(uri, dbName, "cp9", sim.URL, "SCRM_CAMPAIGN_LEASE="+lease.String()))
	type instance struct {
		p    *serverProc
		base string
	}
	start := func() instance {
		p, base := g.start()
		return instance{p, base}
	}
	logs := g.logs
	began := time.Now()
	a, b := start(), start()

	body := map[string]any{"name": "双十二专享", "filter": map[string]string{"tag": "VIP"}, "text": "#客户昵称#好，双十二专享价"}
	var cp store.Campaign
	if code := postJSON(t, b.base+"/api/v1/campaigns", "kill9-once", body, &cp); code != 201 {
		t.Fatalf("create: %d", code)
	}

	for sim.Calls("externalcontact/add_msg_template") < killAt {
		if time.Since(began) > time.Minute {
			t.Fatalf("only %d tasks began in a minute; logs:\n%s", sim.Calls("externalcontact/add_msg_template"), logs())
		}
		time.Sleep(2 * time.Millisecond)
	}
	holder := leaseHolder(t, uri, dbName, "j:campaign:"+cp.ID)
	victim, survivor := a, b
	if holder == b.p.cmd.Process.Pid {
		victim, survivor = b, a
	} else if holder != a.p.cmd.Process.Pid {
		t.Fatalf("the campaign's lease is held by pid %d, neither server; logs:\n%s", holder, logs())
	}
	victim.p.kill9()
	killedAt, callsAtKill := time.Since(began), sim.Calls("externalcontact/add_msg_template")
	if callsAtKill >= salespeople {
		t.Fatalf("the kill came too late to matter: %d of %d tasks had begun", callsAtKill, salespeople)
	}
	time.Sleep(300 * time.Millisecond)
	restarted := start()

	// A client that lost its answer posts again, to another server.
	var again store.Campaign
	if code := postJSON(t, survivor.base+"/api/v1/campaigns", "kill9-once", body, &again); code != 200 || again.ID != cp.ID {
		t.Fatalf("the same Idempotency-Key: %d %s, want 200 and %s", code, again.ID, cp.ID)
	}

	deadline := time.Now().Add(lease + 2*time.Minute)
	for {
		got, err := db.FindCampaignByID(ctx, cp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == store.CampaignSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign still %s after %v; logs:\n%s", got.Status, time.Since(began), logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	finishedAt := time.Since(began)

	// Exactly one task per (salesperson, chunk): one chunk each here.
	msgs := sim.GroupMsgs()
	perSender := map[string]int{}
	for _, m := range msgs {
		perSender[m.Creator]++
		if got := m.RecipientIDs(); !slices.Equal(got, want[m.Creator]) {
			t.Errorf("%s's task lists %v, want %v", m.Creator, m.RecipientIDs(), want[m.Creator])
		}
		if m.Text != "您好，双十二专享价" {
			t.Errorf("%s's task reads %q", m.Creator, m.Text)
		}
	}
	if len(perSender) != salespeople {
		t.Errorf("tasks for %d salespeople, want %d", len(perSender), salespeople)
	}
	for s, n := range perSender {
		if n != 1 {
			t.Errorf("%s has %d add_msg_template tasks, want 1", s, n)
		}
	}
	tasks, err := db.FindCampaignTasks(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, tk := range tasks {
		if tk.State != store.TaskCreated || tk.Chunk != 0 || !slices.ContainsFunc(msgs, func(m wecomtest.SimGroupMsg) bool { return m.MsgID == tk.MsgID && m.Creator == tk.Sender }) {
			t.Errorf("task of %s chunk %d: %s %q, not the one WeCom holds", tk.Sender, tk.Chunk, tk.State, tk.MsgID)
		}
		recorded[tk.MsgID] = true
	}
	if len(tasks) != salespeople || len(recorded) != len(msgs) {
		t.Errorf("%d tasks recorded (%d msgids) for %d in WeCom", len(tasks), len(recorded), len(msgs))
	}
	// The dead process's last call created a task it never recorded: the
	// takeover must have found it in WeCom rather than made another.
	if sim.Calls("externalcontact/get_groupmsg_list_v2") == 0 {
		t.Error("no task was looked up in WeCom: the takeover of a call in flight was not exercised")
	}

	// The salespeople send it; the report must match WeCom's records.
	for _, m := range msgs {
		if !sim.ConfirmGroupMsg(m.MsgID) {
			t.Fatalf("%s could not send %s", m.Creator, m.MsgID)
		}
	}
	delivered := sim.GroupMsgDelivered()
	var synced store.Campaign
	if code := postJSON(t, restarted.base+"/api/v1/campaigns/"+cp.ID+"/sync", "", nil, &synced); code != 200 {
		t.Fatalf("sync: %d", code)
	}
	targeted := 0
	for _, w := range want {
		targeted += len(w)
	}
	r := synced.Report
	if r.Targeted != targeted || r.Senders != len(msgs) || r.SendersSent != len(msgs) || r.Delivered != delivered || delivered != targeted ||
		r.LeftOut["opted_out"] != 1 || r.NotContact != 0 || r.AlreadyLimited != 0 {
		t.Errorf("report %+v; WeCom: %d tasks, %d delivered; %d targeted", r, len(msgs), delivered, targeted)
	}
	sends, err := db.FindCampaignSends(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sends) != targeted || slices.ContainsFunc(sends, func(s store.CampaignSend) bool { return s.CustomerID == optedOut }) {
		t.Errorf("%d sends for %d targeted, or one to the opted-out customer", len(sends), targeted)
	}
	for _, p := range []instance{survivor, restarted} {
		p.p.stop(t)
	}
	t.Logf("%d salespeople, %d customers targeted: killed the lease holder at %v with %d of %d calls begun, sent after %v; "+
		"add_msg_template calls %d, get_groupmsg_list_v2 calls %d",
		salespeople, targeted, killedAt.Round(100*time.Millisecond), callsAtKill, salespeople, finishedAt.Round(100*time.Millisecond),
		sim.Calls("externalcontact/add_msg_template"), sim.Calls("externalcontact/get_groupmsg_list_v2"))
}

// postJSON posts body (nil: none) with the API token and an optional
// Idempotency-Key, and decodes a 2xx answer into out.
func postJSON(t *testing.T, url, key string, body, out any) int {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer test-api-token")
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// leaseHolder is the pid of the process holding subject's newest lease
// (owners are "<host>-<pid>-<start>").
func leaseHolder(t *testing.T, uri, dbName, subject string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongodrv.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	var doc struct {
		Owner string `bson:"owner"`
	}
	if err := c.Database(dbName).Collection("leases").FindOne(ctx, bson.D{{Key: "subject", Value: subject}},
		options.FindOne().SetSort(bson.D{{Key: "gen", Value: -1}})).Decode(&doc); err != nil {
		t.Fatalf("lease of %s: %v", subject, err)
	}
	parts := strings.Split(doc.Owner, "-")
	pid, err := strconv.Atoi(parts[max(len(parts)-2, 0)])
	if err != nil {
		t.Fatalf("lease owner %q: %v", doc.Owner, err)
	}
	return pid
}
