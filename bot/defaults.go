package bot

import (
	"log/slog"
	"time"
)

// The constructors' option defaults, one line each instead of an if apiece.

// clockOr returns now, or time.Now when it is nil.
func clockOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// loggerOr returns l, or the default logger when it is nil.
func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// positiveOr returns v, or def when v is zero or negative: a count or a
// duration left unset.
func positiveOr[T ~int | ~int64 | ~float64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
