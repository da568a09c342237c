package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// clusterEnv is the environment of `scrm serve` processes sharing one
// MongoDB-wire store and one Redis (under a prefix of their own) and
// talking to the simulator at simURL, plus extra settings. No morning
// digest or daily scan falls in a test's time: the digest is two hours
// away (or, near midnight, long past).
func clusterEnv(uri, dbName, redisTag, simURL string, extra ...string) []string {
	return append([]string{
		"SCRM_MONGO_URI=" + uri, "SCRM_MONGO_DB=" + dbName,
		"SCRM_REDIS_URL=redis://127.0.0.1:6379/0",
		fmt.Sprintf("SCRM_REDIS_PREFIX=scrmtest:%s:%d:", redisTag, time.Now().UnixNano()),
		"SCRM_WECOM_CORP_ID=" + wecomtest.SimCorpID, "SCRM_WECOM_AGENT_ID=" + wecomtest.SimAgentID,
		"SCRM_WECOM_SECRET=" + wecomtest.SimAppSecret, "SCRM_WECOM_CONTACT_SECRET=" + wecomtest.SimContactSecret,
		"SCRM_WECOM_TOKEN=" + wecomtest.SimToken, "SCRM_WECOM_AES_KEY=" + wecomtest.SimAESKey,
		"SCRM_WECOM_API_BASE=" + simURL,
		"SCRM_TIMEZONE=UTC", "SCRM_DIGEST_AT=" + time.Now().UTC().Add(2*time.Hour).Format("15:04"),
	}, extra...)
}

// serverGroup starts `scrm serve` processes over one environment and
// keeps every one, so a failure can show all their logs.
type serverGroup struct {
	t     *testing.T
	env   []string
	procs []*serverProc
}

func newServerGroup(t *testing.T, env []string) *serverGroup {
	g := &serverGroup{t: t, env: env}
	t.Cleanup(func() { g.logs() })
	return g
}

// start runs one more process and returns it with its base URL.
func (g *serverGroup) start() (*serverProc, string) {
	addr := freeAddr(g.t)
	p := startServer(g.t, addr, g.t.TempDir(), g.env...)
	g.procs = append(g.procs, p)
	return p, "http://" + addr
}

// logs stops whatever still runs (its logs are written until then) and
// returns every server's logs.
func (g *serverGroup) logs() string {
	var b strings.Builder
	for i, p := range g.procs {
		if p.cmd.ProcessState == nil {
			p.kill9()
		}
		fmt.Fprintf(&b, "--- server %d (pid %d):\n%s", i+1, p.cmd.Process.Pid, p.logs)
	}
	return b.String()
}
