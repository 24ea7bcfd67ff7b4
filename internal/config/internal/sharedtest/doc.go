// Package sharedtest finds, for the configuration packages' tests, the steering repository's
// shared/ folder: Keepalived's sample configurations (samples/) and real ones with what
// Keepalived 2.2.7 said of them (corpus/). It lies beside the repository.
package sharedtest
