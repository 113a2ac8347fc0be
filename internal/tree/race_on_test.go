//go:build race

package tree

// raceEnabled scales heavy tests down: the race detector makes them ~10x slower.
const raceEnabled = true
