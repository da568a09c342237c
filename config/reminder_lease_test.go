package config

import (
	"strings"
	"testing"
	"time"
)

func TestReminderLease(t *testing.T) {
	cases := []struct {
		name    string
		env     string // SCRM_REMINDER_LEASE; "" keeps the default
		want    time.Duration
		wantErr bool
	}{
		{"default", "", time.Minute, false},
		{"shorter for a fast takeover", "10s", 10 * time.Second, false},
		{"smallest", "5s", 5 * time.Second, false},
		{"longest", "1h", time.Hour, false},
		{"too short to push a batch", "4s", 0, true},
		{"too long for a crashed instance's reminders to wait", "2h", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", envOf(map[string]string{"SCRM_REMINDER_LEASE": tc.env}))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "SCRM_REMINDER_LEASE") {
					t.Fatalf("Validate() = %v, want an error naming SCRM_REMINDER_LEASE", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ReminderLease != tc.want {
				t.Fatalf("lease %v, want %v", cfg.ReminderLease, tc.want)
			}
		})
	}
	if _, err := Load("", envOf(map[string]string{"SCRM_REMINDER_LEASE": "ten seconds"})); err == nil {
		t.Fatal("a lease that is not a duration was accepted")
	}
}
