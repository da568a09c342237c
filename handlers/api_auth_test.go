package handlers_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/handlers"
)

func TestStaffTokenRoundTrip(t *testing.T) {
	now := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		staffID string
	}{
		{"plain", "zhangsan"},
		{"dotted id", "li.si@example.com"},
		{"dashes and underscores", "wang_wu-02"},
		{"looks like a token", "st1.x.1.y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := handlers.MintStaffToken("secret", tt.staffID, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tok, "secret") {
				t.Fatal("the token carries the secret")
			}
			id, exp, err := handlers.ParseStaffToken("secret", tok, now)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if id != tt.staffID || !exp.Equal(now.Add(time.Hour)) {
				t.Fatalf("got %q %v, want %q %v", id, exp, tt.staffID, now.Add(time.Hour))
			}
		})
	}
}

func TestStaffTokenRejections(t *testing.T) {
	now := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	good, err := handlers.MintStaffToken("secret", "a1", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := handlers.MintStaffToken("secret", "a1", now)
	otherKey, _ := handlers.MintStaffToken("other-secret", "a1", now.Add(time.Hour))
	parts := strings.Split(good, ".") // st1, a1, expiry, mac
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"expired at now", expired, handlers.ErrTokenExpired},
		{"signed with another key", otherKey, handlers.ErrTokenInvalid},
		{"staff id swapped", strings.Join([]string{parts[0], "boss", parts[2], parts[3]}, "."), handlers.ErrTokenInvalid},
		{"expiry extended", strings.Join([]string{parts[0], parts[1], "9999999999", parts[3]}, "."), handlers.ErrTokenInvalid},
		{"expiry with leading zero", strings.Join([]string{parts[0], parts[1], "0" + parts[2], parts[3]}, "."), handlers.ErrTokenInvalid},
		{"mac truncated", good[:len(good)-2], handlers.ErrTokenInvalid},
		{"mac missing", strings.Join(parts[:3], ".") + ".", handlers.ErrTokenInvalid},
		{"wrong version", "st2" + good[3:], handlers.ErrTokenInvalid},
		{"no staff id", strings.Join([]string{parts[0], parts[2], parts[3]}, "."), handlers.ErrTokenInvalid},
		{"admin token itself", "secret", handlers.ErrTokenInvalid},
		{"empty", "", handlers.ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := handlers.ParseStaffToken("secret", tt.tok, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("empty secret verifies nothing", func(t *testing.T) {
		if _, _, err := handlers.ParseStaffToken("", good, now); !errors.Is(err, handlers.ErrTokenInvalid) {
			t.Fatalf("got %v", err)
		}
		if _, err := handlers.MintStaffToken("", "a1", now.Add(time.Hour)); err == nil {
			t.Fatal("minted without a secret")
		}
	})
	t.Run("ids a token cannot carry", func(t *testing.T) {
		for _, id := range []string{"", "a|b", "a b", "张三", strings.Repeat("x", 65)} {
			if _, err := handlers.MintStaffToken("secret", id, now.Add(time.Hour)); err == nil {
				t.Errorf("minted a token for %q", id)
			}
		}
	})
}

// FuzzParseStaffToken checks that no input but a minted token verifies.
func FuzzParseStaffToken(f *testing.F) {
	now := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	good, _ := handlers.MintStaffToken("secret", "a1", now.Add(time.Hour))
	f.Add(good)
	f.Add("st1.a1.1717236000.")
	f.Add("st1...")
	f.Add("st1.a.b.c.d")
	f.Fuzz(func(t *testing.T, tok string) {
		id, exp, err := handlers.ParseStaffToken("secret", tok, now)
		if err != nil {
			return
		}
		again, merr := handlers.MintStaffToken("secret", id, exp)
		if merr != nil || again != tok {
			t.Fatalf("%q verified but is not the token minted for %q %v (%q)", tok, id, exp, again)
		}
	})
}
