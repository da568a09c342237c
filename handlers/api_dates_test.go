package handlers_test

import (
	"net/url"
	"slices"
	"testing"
)

// TestFarDatesInFilters: dates beyond what the stores compare (Unix
// nanoseconds end in 2262) are clamped, so a far-future "before" means
// everyone in contact and a far-past "after" too, in the list and in the
// export alike.
func TestFarDatesInFilters(t *testing.T) {
	a := newAPIEnv(t)
	list := func(k, v string) []string {
		keys := a.listAll(t, apiTok, url.Values{k: {v}})
		slices.Sort(keys)
		return keys
	}
	everyone := list("last_contact_before", "2100-01-01")
	if len(everyone) < 3 {
		t.Fatalf("fixture: only %v were ever in contact", everyone)
	}
	cases := []struct {
		key, value string
		want       []string
	}{
		{"last_contact_before", "2263-01-01", everyone},
		{"last_contact_before", "9999-12-31", everyone},
		{"last_contact_before", "9999-12-31T23:59:59Z", everyone},
		{"last_contact_after", "1000-01-01", list("last_contact_after", "1971-01-01")},
		{"last_contact_after", "0001-01-01T00:00:00Z", list("last_contact_after", "1971-01-01")},
		{"last_contact_after", "2263-01-01", nil},
		{"last_contact_before", "1000-01-01", list("last_contact_before", "1971-01-01")}, // the never contacted
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			if got := list(tc.key, tc.value); !slices.Equal(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
			if keys := a.exported(t, apiTok, "format=csv&"+url.Values{tc.key: {tc.value}}.Encode()); !slices.Equal(keys, tc.want) {
				t.Errorf("exported %v, want %v", keys, tc.want)
			}
		})
	}
}
