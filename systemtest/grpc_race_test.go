//go:build race

package systemtest

// raceDetector: the race detector's shadow memory counts in a server's RSS
// (the peak-RSS bounds of attack_grpc_test.go scale with it).
const raceDetector = true
