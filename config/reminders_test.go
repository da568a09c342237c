package config

import (
	"strings"
	"testing"
)

func TestReminderSettings(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string // "" means valid
		digest  string
		dormant int
	}{
		{"defaults", nil, "", "09:00", 30},
		{"custom", map[string]string{"SCRM_DIGEST_AT": "08:30", "SCRM_DORMANT_DAYS": "45"}, "", "08:30", 45},
		{"digest not a time", map[string]string{"SCRM_DIGEST_AT": "9am"}, "SCRM_DIGEST_AT", "", 0},
		{"digest out of range", map[string]string{"SCRM_DIGEST_AT": "24:00"}, "SCRM_DIGEST_AT", "", 0},
		{"digest without leading zero", map[string]string{"SCRM_DIGEST_AT": "9:00"}, "SCRM_DIGEST_AT", "", 0},
		{"dormant too small", map[string]string{"SCRM_DORMANT_DAYS": "0"}, "SCRM_DORMANT_DAYS", "", 0},
		{"dormant negative", map[string]string{"SCRM_DORMANT_DAYS": "-3"}, "SCRM_DORMANT_DAYS", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DigestAt != tc.digest || cfg.DormantDays != tc.dormant {
				t.Fatalf("digest %q dormant %d, want %q %d", cfg.DigestAt, cfg.DormantDays, tc.digest, tc.dormant)
			}
		})
	}
}
