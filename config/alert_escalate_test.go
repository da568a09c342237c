package config

import (
	"strings"
	"testing"
)

func TestAlertEscalateHours(t *testing.T) {
	cases := []struct {
		name    string
		env     string // SCRM_ALERT_ESCALATE_HOURS; "" keeps the default
		want    int
		wantErr bool
	}{
		{"default", "", 4, false},
		{"one hour", "1", 1, false},
		{"a month of business hours", "720", 720, false},
		{"zero would escalate every alert at once", "0", 0, true},
		{"negative", "-2", 0, true},
		{"too long to matter", "721", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", envOf(map[string]string{"SCRM_ALERT_ESCALATE_HOURS": tc.env}))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "SCRM_ALERT_ESCALATE_HOURS") {
					t.Fatalf("Validate() = %v, want an error naming SCRM_ALERT_ESCALATE_HOURS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AlertEscalateHours != tc.want {
				t.Fatalf("hours %d, want %d", cfg.AlertEscalateHours, tc.want)
			}
		})
	}
	if _, err := Load("", envOf(map[string]string{"SCRM_ALERT_ESCALATE_HOURS": "four"})); err == nil {
		t.Fatal("hours that are not a number were accepted")
	}
}
