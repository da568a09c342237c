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
