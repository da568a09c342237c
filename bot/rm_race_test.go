//go:build race

package bot_test

// rmUnderRace scales the 1,000-reminder cluster test down under the race
// detector, which slows every MongoDB-wire round trip about tenfold.
const rmUnderRace = true
