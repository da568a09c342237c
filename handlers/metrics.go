package handlers

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	callbacks   *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	storeAppend prometheus.Histogram
	batchSize   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scrm_callbacks_total",
			Help: "Callbacks answered, by channel, kind and result (stored, duplicate, rejected, error).",
		}, []string{"channel", "kind", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scrm_callbacks_rejected_total",
			Help: "Callbacks rejected before storage, by channel and reason.",
		}, []string{"channel", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scrm_callback_duration_seconds",
			Help:    "Time from receiving a callback to acknowledging it.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"channel"}),
		storeAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scrm_store_append_duration_seconds",
			Help:    "Time of one durable group commit of callback events.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scrm_store_append_batch_size",
			Help:    "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	reg.MustRegister(m.callbacks, m.rejected, m.latency, m.storeAppend, m.batchSize)
	return m
}

// knownKinds are the callback kinds (wecom.Event.Kind) the platforms
// document; each gets its own series of scrm_callbacks_total.
var knownKinds = map[string]bool{}

func init() {
	for _, k := range []string{"text", "image", "voice", "video", "location", "link", "unknown"} {
		knownKinds[k] = true
	}
	for _, ev := range []string{
		// WeCom app and address book
		"subscribe", "unsubscribe", "enter_agent", "location", "click", "view", "template_card_event",
		"template_card_menu_event", "change_contact", "batch_job_result", "kf_msg_or_event",
		// Official Account
		"scan", "templatesendjobfinish", "masssendjobfinish", "view_miniprogram",
	} {
		knownKinds["event."+ev] = true
	}
	for ev, changes := range map[string][]string{
		"change_external_contact": {"add_external_contact", "edit_external_contact", "add_half_external_contact",
			"del_external_contact", "del_follow_user", "transfer_fail"},
		"change_external_chat": {"create", "update", "dismiss"},
		"change_external_tag":  {"create", "update", "delete", "shuffle"},
	} {
		for _, c := range changes {
			knownKinds["event."+ev+"."+c] = true
		}
	}
}

// metricKind is the kind label of a callback: an event name is whatever the
// sender put in <Event>, and a series per name would let anyone who can
// post a callback grow the metrics without bound, so names the platforms do
// not document are counted as "unknown" (the stored event keeps its kind).
func metricKind(kind string) string {
	if knownKinds[kind] {
		return kind
	}
	return "unknown"
}
