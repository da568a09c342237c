package config

import (
	"strings"
	"testing"
	"time"
)

// TestLeases: each lease setting takes a duration from 5s to 1h and names
// itself when it is out of range or not a duration.
func TestLeases(t *testing.T) {
	for _, lease := range []struct {
		env string
		def time.Duration
		get func(Config) time.Duration
	}{
		{"SCRM_REMINDER_LEASE", time.Minute, func(c Config) time.Duration { return c.ReminderLease }},
		{"SCRM_CAMPAIGN_LEASE", 2 * time.Minute, func(c Config) time.Duration { return c.CampaignLease }},
	} {
		cases := []struct {
			name    string
			env     string // the setting; "" keeps the default
			want    time.Duration
			wantErr bool
		}{
			{"default", "", lease.def, false},
			{"shorter for a fast takeover", "10s", 10 * time.Second, false},
			{"smallest", "5s", 5 * time.Second, false},
			{"longest", "1h", time.Hour, false},
			{"too short to finish a batch", "4s", 0, true},
			{"too long for a crashed instance's work to wait", "2h", 0, true},
		}
		for _, tc := range cases {
			t.Run(lease.env+"/"+tc.name, func(t *testing.T) {
				cfg, err := Load("", envOf(map[string]string{lease.env: tc.env}))
				if err != nil {
					t.Fatal(err)
				}
				err = cfg.Validate()
				if tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), lease.env) {
						t.Fatalf("Validate() = %v, want an error naming %s", err, lease.env)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := lease.get(cfg); got != tc.want {
					t.Fatalf("lease %v, want %v", got, tc.want)
				}
			})
		}
		if _, err := Load("", envOf(map[string]string{lease.env: "ten seconds"})); err == nil {
			t.Fatalf("%s that is not a duration was accepted", lease.env)
		}
	}
}
