//go:build !race

package bot_test

const rmUnderRace = false
