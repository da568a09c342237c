// Package sentmodel holds the offline sentiment model: hashed character
// n-gram features and a quantized logistic regression over them.
// The trainer and the runtime model share it so that both see exactly the
// same features; changing anything here requires retraining the model.
package sentmodel

import (
	"unicode"
)

// Boundary marks a clause boundary (punctuation, whitespace, start, end).
const Boundary = '|'

// Normalize folds full-width forms, lower-cases Latin letters, maps every
// digit to '0' and collapses punctuation and spaces into clause boundaries,
// keeping '!' and '?' because they carry sentiment and question cues.
func Normalize(text string) []rune {
	out := make([]rune, 0, len(text)/2+2)
	out = append(out, Boundary)
	for _, r := range text {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
			r -= 0xFEE0
		case r == 0x3000:
			r = ' '
		}
		switch {
		case r == '!' || r == '?':
			// keep
		case unicode.IsDigit(r):
			r = '0'
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r):
			r = Boundary
		}
		if r == Boundary && out[len(out)-1] == Boundary {
			continue
		}
		out = append(out, r)
	}
	if out[len(out)-1] != Boundary {
		out = append(out, Boundary)
	}
	return out
}

// hash is 32-bit FNV-1a over the runes of one n-gram plus an order tag, so
// that unigram "好" and bigram "好|" never share a bucket by construction.
func hash(order uint32, rs []rune) uint32 {
	h := uint32(2166136261) ^ order
	h *= 16777619
	for _, r := range rs {
		// Three bytes cover every Unicode code point.
		for shift := 0; shift < 24; shift += 8 {
			h ^= uint32(r>>shift) & 0xFF
			h *= 16777619
		}
	}
	return h
}

// Features calls fn with the hashed bucket of every character n-gram of the
// normalized text up to maxOrder characters (unigrams skip boundaries), each
// distinct bucket once. bits is the log2 of the number of buckets.
func Features(text string, bits uint, maxOrder int, fn func(bucket uint32)) {
	rs := Normalize(text)
	mask := uint32(1)<<bits - 1
	seen := make(map[uint32]struct{}, len(rs)*3)
	emit := func(h uint32) {
		b := h & mask
		if _, ok := seen[b]; ok {
			return
		}
		seen[b] = struct{}{}
		fn(b)
	}
	for i := range rs {
		if rs[i] != Boundary {
			emit(hash(1, rs[i:i+1]))
		}
		if maxOrder >= 2 && i+1 < len(rs) {
			emit(hash(2, rs[i:i+2]))
		}
		if maxOrder >= 3 && i+2 < len(rs) {
			emit(hash(3, rs[i:i+3]))
		}
		if maxOrder >= 4 && i+3 < len(rs) {
			emit(hash(4, rs[i:i+4]))
		}
	}
}
