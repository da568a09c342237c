package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BusinessHours is when staff answer customers (SCRM_BUSINESS_HOURS), in the
// business time zone. The bot uses it to tell customers who write outside
// these hours when they can expect a human.
//
// The syntax is one or more segments separated by ";", each a time range and
// optional days: "09:00-18:00 Mon-Fri", "09:00-18:00 Mon-Fri; 10:00-16:00 Sat",
// "08:30-20:00" (every day). Days are Mon..Sun, as ranges or comma lists
// ("Mon,Wed,Fri"). "always" (or an empty value) means staff are always there.
type BusinessHours struct {
	always bool
	segs   []hoursSegment
	loc    *time.Location
}

type hoursSegment struct {
	days        [7]bool // indexed by time.Weekday
	open, close time.Duration
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseBusinessHours parses spec (see BusinessHours) for times in loc (UTC
// when nil).
func ParseBusinessHours(spec string, loc *time.Location) (BusinessHours, error) {
	if loc == nil {
		loc = time.UTC
	}
	bh := BusinessHours{loc: loc}
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.EqualFold(spec, "always") || spec == "24/7" {
		bh.always = true
		return bh, nil
	}
	for part := range strings.SplitSeq(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		seg, err := parseSegment(part)
		if err != nil {
			return bh, fmt.Errorf("%q: %w", part, err)
		}
		bh.segs = append(bh.segs, seg)
	}
	if len(bh.segs) == 0 {
		return bh, fmt.Errorf("no time range in %q", spec)
	}
	return bh, nil
}

func parseSegment(s string) (hoursSegment, error) {
	var seg hoursSegment
	fields := strings.Fields(s)
	var rng, days string
	switch len(fields) {
	case 1:
		rng = fields[0]
	case 2:
		rng, days = fields[0], fields[1]
		if !strings.Contains(rng, ":") { // "Mon-Fri 09:00-18:00"
			rng, days = days, rng
		}
	default:
		return seg, fmt.Errorf("want a time range and optional days, such as 09:00-18:00 Mon-Fri")
	}
	from, to, ok := strings.Cut(rng, "-")
	if !ok {
		return seg, fmt.Errorf("time range %q must look like 09:00-18:00", rng)
	}
	var err error
	if seg.open, err = parseClock(from); err != nil {
		return seg, err
	}
	if seg.close, err = parseClock(to); err != nil {
		return seg, err
	}
	if seg.close <= seg.open {
		return seg, fmt.Errorf("closing time %s must be after opening time %s (ranges over midnight: split them)", to, from)
	}
	if days == "" {
		seg.days = [7]bool{true, true, true, true, true, true, true}
		return seg, nil
	}
	for item := range strings.SplitSeq(days, ",") {
		a, b, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(item)), "-")
		da, ok1 := weekdayNames[a]
		db := da
		ok2 := true
		if isRange {
			db, ok2 = weekdayNames[b]
		}
		if !ok1 || !ok2 {
			return seg, fmt.Errorf("days %q: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges (Mon-Fri) or lists (Mon,Wed)", days)
		}
		for d := da; ; d = (d + 1) % 7 {
			seg.days[d] = true
			if d == db {
				break
			}
		}
	}
	return seg, nil
}

func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a clock time such as 09:00", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// Always reports whether staff are always available.
func (b BusinessHours) Always() bool { return b.always }

// Open reports whether t falls within business hours.
func (b BusinessHours) Open(t time.Time) bool {
	if b.always {
		return true
	}
	t = t.In(b.loc)
	since := sinceMidnight(t)
	for _, s := range b.segs {
		if s.days[t.Weekday()] && since >= s.open && since < s.close {
			return true
		}
	}
	return false
}

// NextOpen returns t when it falls within business hours, otherwise the
// next instant they begin. Every moment of one closed period has the same
// NextOpen, which makes it a natural key for "once per closed period".
func (b BusinessHours) NextOpen(t time.Time) time.Time {
	if b.Open(t) {
		return t
	}
	local := t.In(b.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, b.loc)
	var best time.Time
	for i := range 8 {
		d := day.AddDate(0, 0, i)
		for _, s := range b.segs {
			if !s.days[d.Weekday()] {
				continue
			}
			// Add the clock to midnight by wall time, so a DST day keeps
			// its nominal opening hour.
			at := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, b.loc).Add(s.open)
			if at.After(t) && (best.IsZero() || at.Before(best)) {
				best = at
			}
		}
		if !best.IsZero() {
			return best.UTC()
		}
	}
	return best
}

// OpenWithin returns how much of [from, to) falls within business hours,
// day by day: a month-long wait costs thirty days' arithmetic, where
// stepping through it with Open costs thousands of calls. Overlapping
// segments count once, as Open sees them.
func (b BusinessHours) OpenWithin(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if b.always {
		return to.Sub(from)
	}
	local := from.In(b.loc)
	var d time.Duration
	type span struct{ lo, hi time.Time }
	spans := make([]span, 0, len(b.segs))
	for day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, b.loc); day.Before(to); day = day.AddDate(0, 0, 1) {
		spans = spans[:0]
		for _, s := range b.segs {
			if !s.days[day.Weekday()] {
				continue
			}
			// Wall-clock offsets from midnight, as NextOpen counts them.
			lo, hi := day.Add(s.open), day.Add(s.close)
			if lo.Before(from) {
				lo = from
			}
			if hi.After(to) {
				hi = to
			}
			if hi.After(lo) {
				spans = append(spans, span{lo, hi})
			}
		}
		slices.SortFunc(spans, func(x, y span) int { return x.lo.Compare(y.lo) })
		var end time.Time
		for _, sp := range spans {
			if sp.lo.Before(end) {
				sp.lo = end
			}
			if sp.hi.After(sp.lo) {
				d += sp.hi.Sub(sp.lo)
				end = sp.hi
			}
		}
	}
	return d
}

// Describe renders the hours for customers in Chinese, e.g. "工作日 9:00-18:00".
func (b BusinessHours) Describe() string {
	if b.always {
		return "全天"
	}
	parts := make([]string, 0, len(b.segs))
	for _, s := range b.segs {
		parts = append(parts, describeDays(s.days)+" "+clock(s.open)+"-"+clock(s.close))
	}
	return strings.Join(parts, "，")
}

var cnDays = [7]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}

func describeDays(days [7]bool) string {
	switch days {
	case [7]bool{true, true, true, true, true, true, true}:
		return "每天"
	case [7]bool{false, true, true, true, true, true, false}:
		return "工作日"
	case [7]bool{true, false, false, false, false, false, true}:
		return "周末"
	}
	// Runs of consecutive days, Monday first as people read a week.
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	var runs []string
	for i := 0; i < len(order); {
		if !days[order[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(order) && days[order[j+1]] {
			j++
		}
		switch {
		case j == i:
			runs = append(runs, cnDays[order[i]])
		case j == i+1:
			runs = append(runs, cnDays[order[i]], cnDays[order[j]])
		default:
			runs = append(runs, cnDays[order[i]]+"至"+cnDays[order[j]])
		}
		i = j + 1
	}
	return strings.Join(slices.Compact(runs), "、")
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// Hours parses SCRM_BUSINESS_HOURS in the business time zone; Validate
// guarantees it parses.
func (c Config) Hours() BusinessHours {
	bh, err := ParseBusinessHours(c.BusinessHours, c.Location())
	if err != nil {
		bh, _ = ParseBusinessHours("always", c.Location())
	}
	return bh
}
