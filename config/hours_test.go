package config

import (
	"strings"
	"testing"
	"time"
)

func TestBusinessHours(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hour, minute int) time.Time { // November 2026: the 23rd is a Monday
		return time.Date(2026, 11, day, hour, minute, 0, 0, loc)
	}
	cases := []struct {
		spec     string
		describe string
		at       time.Time
		open     bool
		next     time.Time // NextOpen(at)
	}{
		{"09:00-18:00 Mon-Fri", "工作日 9:00-18:00", at(24, 10, 0), true, at(24, 10, 0)},
		{"09:00-18:00 Mon-Fri", "工作日 9:00-18:00", at(24, 18, 0), false, at(25, 9, 0)},
		{"09:00-18:00 Mon-Fri", "工作日 9:00-18:00", at(24, 8, 59), false, at(24, 9, 0)},
		{"09:00-18:00 Mon-Fri", "工作日 9:00-18:00", at(27, 20, 0), false, at(30, 9, 0)}, // Friday night → Monday
		{"09:00-18:00 Mon-Fri", "工作日 9:00-18:00", at(29, 12, 0), false, at(30, 9, 0)}, // Sunday
		{"Mon-Fri 09:00-18:00; 10:00-16:00 Sat", "工作日 9:00-18:00，周六 10:00-16:00", at(28, 11, 0), true, at(28, 11, 0)},
		{"Mon-Fri 09:00-18:00; 10:00-16:00 Sat", "工作日 9:00-18:00，周六 10:00-16:00", at(27, 19, 0), false, at(28, 10, 0)},
		{"08:30-20:00", "每天 8:30-20:00", at(29, 8, 0), false, at(29, 8, 30)},
		{"10:00-22:00 sat,sun", "周末 10:00-22:00", at(24, 12, 0), false, at(28, 10, 0)},
		{"09:00-12:00 Mon-Wed,Fri", "周一至周三、周五 9:00-12:00", at(26, 10, 0), false, at(27, 9, 0)},
		{"09:00-24:00 Fri-Mon", "周一、周五至周日 9:00-24:00", at(30, 23, 59), true, at(30, 23, 59)},
		{"always", "全天", at(29, 3, 0), true, at(29, 3, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.spec+" at "+tc.at.Format("Mon 15:04"), func(t *testing.T) {
			bh, err := ParseBusinessHours(tc.spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := bh.Describe(); got != tc.describe {
				t.Errorf("Describe() = %q, want %q", got, tc.describe)
			}
			if got := bh.Open(tc.at); got != tc.open {
				t.Errorf("Open = %v, want %v", got, tc.open)
			}
			if got := bh.NextOpen(tc.at); !got.Equal(tc.next) {
				t.Errorf("NextOpen = %v, want %v", got.In(loc), tc.next)
			}
		})
	}
}

func TestBusinessHoursErrors(t *testing.T) {
	for _, spec := range []string{"9-18", "18:00-09:00 Mon-Fri", "09:00-18:00 Mon-Fry", "09:00-25:00", "09:00-18:00 Mon Fri", ";"} {
		t.Run(spec, func(t *testing.T) {
			if _, err := ParseBusinessHours(spec, time.UTC); err == nil {
				t.Fatalf("%q parsed", spec)
			}
		})
	}
}

func TestInboxSettingsValidate(t *testing.T) {
	cfg, err := Load("", envOf(map[string]string{"SCRM_BUSINESS_HOURS": "18:00-09:00", "SCRM_FAQ_FILE": "/nonexistent/faq.yaml"}))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{"SCRM_BUSINESS_HOURS", "SCRM_FAQ_FILE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want an error naming %s", err, want)
		}
	}
	def := Default()
	if def.BusinessHours != "09:00-18:00 Mon-Fri" || def.Hours().Describe() != "工作日 9:00-18:00" {
		t.Fatalf("default business hours %q", def.BusinessHours)
	}
}

// TestOpenWithinMatchesStepping: the closed form agrees, to the minute,
// with walking the interval a minute at a time through Open, for ranges
// that start and end inside and outside the hours, span weekends and
// weeks, and for overlapping segments.
func TestOpenWithinMatchesStepping(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 27, 7, 13, 0, 0, sh) // a Friday morning
	for _, spec := range []string{"09:00-18:00 Mon-Fri", "09:00-18:00 Mon-Fri; 10:00-16:00 Sat", "08:30-20:00", "09:00-12:00; 11:00-14:00 Mon-Fri", "always", "00:00-24:00 Sun"} {
		bh, err := ParseBusinessHours(spec, sh)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range [][2]time.Duration{{0, time.Hour}, {0, 3 * time.Hour}, {2 * time.Hour, 11 * time.Hour}, {0, 80 * time.Hour},
			{5 * time.Hour, 9 * 24 * time.Hour}, {13 * time.Hour, 13*time.Hour + 17*time.Minute}, {time.Hour, time.Hour}} {
			from, to := base.Add(r[0]), base.Add(r[1])
			var want time.Duration
			for m := from; m.Before(to); m = m.Add(time.Minute) {
				if bh.Open(m) {
					want += time.Minute
				}
			}
			if got := bh.OpenWithin(from.UTC(), to.UTC()); got != want {
				t.Errorf("%s, range %d (%v–%v): %v, want %v", spec, i, from, to, got, want)
			}
		}
	}
}
