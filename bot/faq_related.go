package bot

import (
	"math"
	"strings"
)

// Related ranks entries by how much of the question's vocabulary they
// share, for reply suggestions: a TF-IDF cosine over character unigrams and
// bigrams of each entry's question, aliases, keywords (counted twice) and
// answer. Match is strict because the automatic answerer sends what it
// finds; a salesperson reads a suggestion before sending it, so a customer
// asking in words of their own ("报销需要票据") should still meet the entry
// that uses others ("能开发票吗"). Function characters that every question
// shares carry no weight. Entries scoring at least minScore come back best
// first, at most limit (0: all).
func (kb *KnowledgeBase) Related(question string, minScore float64, limit int) []FAQMatch {
	if kb == nil || len(kb.entries) == 0 {
		return nil
	}
	q := relatedTerms(normalizeFAQ(question))
	if len(q) == 0 {
		return nil
	}
	kb.relOnce.Do(kb.buildRelated)
	qv, qn := map[string]float64{}, 0.0
	for term, tf := range q {
		if idf, ok := kb.idf[term]; ok {
			qv[term] = tf * idf
			qn += qv[term] * qv[term]
		}
	}
	if qn == 0 {
		return nil
	}
	var out []FAQMatch
	for i, dv := range kb.docs {
		dot := 0.0
		for term, w := range qv {
			dot += w * dv[term]
		}
		if s := dot / math.Sqrt(qn) / kb.norms[i]; s >= minScore && s > 0 {
			out = append(out, FAQMatch{Entry: kb.entries[i], Score: s})
		}
	}
	return best(out, limit)
}

// relatedAnswerWeight is how much an answer's words count against its
// question's: an answer also says things the entry is not about.
const relatedAnswerWeight = 0.5

// relatedStop are characters of the questions themselves, not of their
// subject: pronouns, particles, modal and question words.
const relatedStop = "的了吗呢吧啊呀么嘛哦哈你我他她们是在有能可以会要需想请问吗这那个些什怎样呢就也还都和与及或把被给让对从到"

// relatedGeneric are words of every kind of question; they are cut out
// before terms are taken, so "商量一下" does not point to "试一下".
var relatedGeneric = strings.NewReplacer(
	"一下", "|", "怎么", "|", "什么", "|", "时候", "|", "可以", "|", "没有", "|", "知道", "|",
	"现在", "|", "已经", "|", "还是", "|", "就是", "|", "这个", "|", "那个", "|", "一个", "|", "如果", "|",
)

func relatedTerms(s string) map[string]float64 {
	out := map[string]float64{}
	for _, part := range strings.Split(relatedGeneric.Replace(s), "|") {
		relatedPartTerms([]rune(part), out)
	}
	return out
}

func relatedPartTerms(r []rune, out map[string]float64) {
	for i, c := range r {
		if !strings.ContainsRune(relatedStop, c) {
			out[string(c)]++
		}
		if i+1 < len(r) && !(strings.ContainsRune(relatedStop, c) && strings.ContainsRune(relatedStop, r[i+1])) {
			out[string(r[i:i+2])] += 1.5 // a shared bigram says more than two shared characters
		}
	}
}

// buildRelated computes the entries' weighted term vectors once.
func (kb *KnowledgeBase) buildRelated() {
	n := len(kb.entries)
	tfs := make([]map[string]float64, n)
	df := map[string]int{}
	for i, e := range kb.entries {
		tf := map[string]float64{}
		add := func(s string, w float64) {
			for t, c := range relatedTerms(normalizeFAQ(s)) {
				tf[t] += c * w
			}
		}
		add(e.Question, 2)
		for _, a := range e.Aliases {
			add(a, 2)
		}
		for _, k := range e.Keywords {
			add(k, 2)
		}
		add(e.Answer, relatedAnswerWeight)
		for t := range tf {
			df[t]++
		}
		tfs[i] = tf
	}
	kb.idf = make(map[string]float64, len(df))
	for t, d := range df {
		kb.idf[t] = math.Log(1 + float64(n)/float64(d))
	}
	kb.docs = make([]map[string]float64, n)
	kb.norms = make([]float64, n)
	for i, tf := range tfs {
		v, norm := make(map[string]float64, len(tf)), 0.0
		for t, c := range tf {
			// Sublinear counts: a long answer repeating a word is not more
			// about it.
			w := (1 + math.Log(c)) * kb.idf[t]
			v[t] = w
			norm += w * w
		}
		kb.docs[i], kb.norms[i] = v, math.Sqrt(norm)
	}
}
