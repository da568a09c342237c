package sentmodel

import (
	"bytes"
	"math"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"好！！", "|好!!|"},
		{"ＡＢＣ１２３，不错", "|abc000|不错|"},
		{"  很好  。。", "|很好|"},
		{"", "|"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := string(Normalize(c.in)); got != c.want {
				t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestFeaturesDistinct(t *testing.T) {
	var got []uint32
	Features("好好好", 20, 2, func(b uint32) { got = append(got, b) })
	// "好" once, "|好", "好好", "好|": repeated n-grams count once.
	if len(got) != 4 {
		t.Errorf("features = %d, want 4", len(got))
	}
	seen := map[uint32]bool{}
	for _, b := range got {
		if seen[b] || b >= 1<<20 {
			t.Errorf("bucket %d repeated or out of range", b)
		}
		seen[b] = true
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	w := make([]float64, 1<<10)
	for i := range w {
		w[i] = math.Sin(float64(i)) * 3
	}
	m := Quantize(10, 3, -0.25, w)
	var buf bytes.Buffer
	if err := m.Write(&buf, "# test header\n"); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("# test header\n#---\n")) {
		t.Fatalf("header not kept readable")
	}
	got, err := Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Bits != 10 || got.Order != 3 || got.Bias != -0.25 || len(got.Weights) != len(w) {
		t.Fatalf("header fields = %d %d %v %d", got.Bits, got.Order, got.Bias, len(got.Weights))
	}
	for i := range w {
		if math.Abs(got.Weights[i]-m.Weights[i]) > 1e-12 {
			t.Fatalf("weight %d = %v, want %v", i, got.Weights[i], m.Weights[i])
		}
	}
	if a, b := m.Score("很好"), got.Score("很好"); a != b {
		t.Errorf("scores differ after the round trip: %v vs %v", a, b)
	}
	if _, err := Read([]byte("no separator")); err == nil {
		t.Error("Read accepted garbage")
	}
}
